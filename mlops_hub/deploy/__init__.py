"""Bringing the platform up on a swarm: images, secrets, the stack. Used by the CLI and tests."""
