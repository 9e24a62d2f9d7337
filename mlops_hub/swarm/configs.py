"""Swarm configs and secrets for user servers: create content-addressed, reference, clean up.

Names carry a hash of the content (see policy.package_index.DeliveredFile), so a changed
setting creates new objects for new spawns while running servers keep theirs; objects that no
service references any more are removed when a server stops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import docker
from docker.errors import APIError
from docker.types import ConfigReference, SecretReference

from ..names import label
from ..policy.package_index import DeliveredFile

log = logging.getLogger(__name__)
CONFIG_MODE = 0o444
SECRET_MODE = 0o400  # only the server's user reads the credentials


@dataclass(frozen=True)
class References:
    configs: list[ConfigReference]
    secrets: list[SecretReference]


def _status(e: APIError) -> int | None:
    return e.response.status_code if e.response is not None else None


def _find(client: docker.APIClient, secret: bool, name: str) -> str | None:
    found = (client.secrets if secret else client.configs)(filters={"name": name})
    # the name filter matches prefixes: keep the exact name only
    return next((o["ID"] for o in found if o["Spec"]["Name"] == name), None)


def ensure_object(client: docker.APIClient, prefix: str, f: DeliveredFile) -> tuple[str, str]:
    """The (id, name) of the Swarm config/secret holding `f`, created when missing."""
    name = f.object_name(prefix)
    found = _find(client, f.secret, name)
    if found:
        return found, name
    labels = {label("prefix"): prefix, label("managed"): "true", label("file"): f.key}
    create = client.create_secret if f.secret else client.create_config
    try:
        return create(name, f.content, labels=labels)["ID"], name
    except APIError as e:
        if _status(e) != 409:
            raise
    # created by a concurrent spawn between our look-up and create
    found = _find(client, f.secret, name)
    if found is None:
        raise RuntimeError(f"Swarm object {name} conflicted but cannot be found")
    return found, name


def ensure_references(
    client: docker.APIClient, prefix: str, files: Iterable[DeliveredFile], uid: int, gid: int
) -> References:
    """Create what is missing and return the references for the server's ContainerSpec."""
    refs = References([], [])
    for f in files:
        object_id, name = ensure_object(client, prefix, f)
        if f.secret:
            refs.secrets.append(SecretReference(object_id, name, filename=f.target,
                                                uid=str(uid), gid=str(gid), mode=SECRET_MODE))
        else:
            refs.configs.append(ConfigReference(object_id, name, filename=f.target,
                                                uid=str(uid), gid=str(gid), mode=CONFIG_MODE))
    return refs


def _referenced_ids(client: docker.APIClient) -> set[str]:
    used: set[str] = set()
    for service in client.services():
        spec = service["Spec"]["TaskTemplate"].get("ContainerSpec", {})
        used.update(ref["ConfigID"] for ref in spec.get("Configs") or [])
        used.update(ref["SecretID"] for ref in spec.get("Secrets") or [])
    return used


def remove_unused(client: docker.APIClient, prefix: str) -> list[str]:
    """Remove this prefix's configs/secrets that no service references; return their names."""
    used = _referenced_ids(client)
    removed = []
    selector = {"label": [f"{label('prefix')}={prefix}", f"{label('managed')}=true"]}
    for kind, listing, remove in (("config", client.configs, client.remove_config),
                                  ("secret", client.secrets, client.remove_secret)):
        for obj in listing(filters=selector):
            if obj["ID"] in used:
                continue
            try:
                remove(obj["ID"])
                removed.append(obj["Spec"]["Name"])
            except APIError as e:
                # 404: removed by another stop; 400/409: a service started using it meanwhile
                if _status(e) not in (400, 404, 409):
                    raise
                log.debug("keeping %s %s: %s", kind, obj["Spec"]["Name"], e)
    return removed


def is_missing_reference(e: APIError) -> bool:
    """create_service failed because a config/secret vanished (a concurrent clean-up)."""
    text = str(e.explanation or e).lower()
    return ("secret" in text or "config" in text) and "not found" in text
