"""What a user server gets besides its image: package index files, CA bundle, volumes.

Glue between the spawner and policy/swarm, kept out of spawner.py: reads the hub-side files
(password, CA), asks policy what to deliver, and has swarm create configs, secrets, volumes.
Every function here runs in the spawner's thread pool (blocking Docker calls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.types import ConfigReference, Mount, SecretReference

from .names import label
from .policy.environments import ConfigError
from .policy.home_node import split_files_error
from .policy.package_index import IndexSettings, render_ca_bundle, render_delivery
from .policy.storage import StorageConfig, parse_owner
from .swarm.configs import ensure_references
from .swarm.home_node import ensure_home_node
from .swarm.volumes import docker_mount, ensure_local_volume


@dataclass
class Provisioned:
    env: dict[str, str] = field(default_factory=dict)  # paths only, never content
    mounts: list[Mount] = field(default_factory=list)
    configs: list[ConfigReference] = field(default_factory=list)
    secrets: list[SecretReference] = field(default_factory=list)
    # with homes on local volumes: the node holding the user's home (the server must run there)
    home_node: str | None = None


def server_owner(storage: StorageConfig | None, container_user: str | None, image_user: str) -> tuple[int, int]:
    """uid:gid that owns the delivered files and new volumes: storage.owner, else the server's user."""
    if storage is not None and storage.owner is not None:
        return storage.owner
    user = container_user or image_user
    try:
        return parse_owner("server user", user)
    except ConfigError:
        raise ConfigError(
            f"storage.owner: the server runs as {user!r}, which is not a numeric uid:gid;"
            " set storage.owner or run_as_user to e.g. '1000:100'"
        ) from None


def _read(path: str, setting: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        # the path is configuration, not a secret: name both so the admin can fix it
        raise ConfigError(f"{setting}: cannot read {path}: {e.strerror}") from None


def read_password(s: IndexSettings) -> str | None:
    if not s.has_credentials:
        return None
    return _read(s.password_file, "package_index.password_file").decode("utf8").strip()


def read_ca_bundle(s: IndexSettings, system_roots_file: str | None) -> bytes | None:
    if not s.ca_bundle_file:
        return None
    admin_ca = _read(s.ca_bundle_file, "package_index.ca_bundle_file")
    roots = None
    if s.ca_include_system_roots and system_roots_file and Path(system_roots_file).exists():
        roots = _read(system_roots_file, "ca_system_roots_file")
    return render_ca_bundle(admin_ca, roots)


def provision(
    client: docker.APIClient,
    *,
    prefix: str,
    username: str,
    roles: list[str],
    image: str,
    owner: tuple[int, int],
    index: IndexSettings | None,
    storage: StorageConfig | None,
    system_roots_file: str | None,
) -> Provisioned:
    """Create (or reuse) everything the server needs and return what its service references."""
    out = Provisioned()
    uid, gid = owner
    if index is not None:
        delivery = render_delivery(index, read_password(index), read_ca_bundle(index, system_roots_file))
        refs = ensure_references(client, prefix, delivery.files, uid, gid)
        out.env.update(delivery.env)
        out.configs, out.secrets = refs.configs, refs.secrets
    if storage is not None:
        labels = {label("prefix"): prefix, label("managed"): "true"}
        here = True
        if storage.backend == "local":
            out.home_node, here = ensure_home_node(client, prefix, username)
        mounts = storage.mounts(prefix, username, roles)
        split = None if here else split_files_error(username, (m.kind for m in mounts if m.kind != "home"))
        if split:
            raise ConfigError(split)
        for m in mounts:
            # a home moved to another node is there already (`mlops-hub home move` made it): none here
            if storage.backend == "local" and not m.read_only and here:
                ensure_local_volume(client, m, image, uid, gid, labels)
            out.mounts.append(docker_mount(m, labels))
    return out
