"""Docker I/O for user servers: service specs and task watching. Knows nothing of roles."""
