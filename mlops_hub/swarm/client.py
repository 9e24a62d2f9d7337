"""One Docker API client for hub code that runs without a spawner (the quota pages)."""

from __future__ import annotations

import docker

_client: docker.APIClient | None = None


def shared_client() -> docker.APIClient:
    """A docker.APIClient from the environment (DOCKER_HOST etc.), made on first use."""
    global _client
    if _client is None:
        _client = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    return _client
