"""Push a local image to a registry through the Docker daemon (its certs.d and logins apply); its digest."""

from __future__ import annotations

import docker


class PushFailed(RuntimeError):
    """The registry refused the push or reported no digest; the message says which image and why."""


def push(client: docker.APIClient, image: str, repository: str, tag: str) -> str:
    """Push a local image as repository:tag; its digest. Layers the registry has are not sent again."""
    client.tag(image, repository, tag)
    digest = ""
    for event in client.push(repository, tag, stream=True, decode=True):
        if event.get("error"):
            raise PushFailed(f"pushing {image} to {repository}:{tag} failed: {event['error']}"
                              + (" (run `docker login` for that registry first)" if "auth" in event["error"] else ""))
        digest = (event.get("aux") or {}).get("Digest", digest)
    if not digest:
        raise PushFailed(f"pushing {image} to {repository}:{tag}: the registry reported no digest")
    return digest
