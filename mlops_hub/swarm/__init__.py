"""Docker I/O for user servers: service specs, labels written and read, task watching, token secrets,
configs and volumes. Knows nothing of forms, roles or the hub's web pages."""
