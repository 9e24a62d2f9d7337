"""Docker mounts for the storage policy's volumes, and first-use ownership of local volumes."""

from __future__ import annotations

import docker
from docker.errors import APIError, NotFound
from docker.types import DriverConfig, Mount

from ..names import label
from ..policy.storage import VolumeMount

INIT_TARGET = "/mlops-volume"


def docker_mount(m: VolumeMount, labels: dict[str, str]) -> Mount:
    driver = DriverConfig("local", dict(m.driver_options)) if m.driver_options else None
    return Mount(target=m.target, source=m.source, type="volume", read_only=m.read_only,
                 labels=labels, driver_config=driver)


def _init_command(kind: str, uid: int, gid: int) -> list[str]:
    # team folders: setgid + group-writable, so members with different uids share the files
    mode = "2775" if kind == "team" else "0755"
    return ["sh", "-c", f"chown {uid}:{gid} {INIT_TARGET} && chmod {mode} {INIT_TARGET}"]


def ensure_local_volume(client: docker.APIClient, m: VolumeMount, image: str, uid: int, gid: int,
                        labels: dict[str, str]) -> bool:
    """Create a missing local volume owned by uid:gid; True when it was created now.

    A fresh local volume is root-owned unless the image has a directory at its mount point:
    a one-off root container from the server's own image sets the owner once.
    """
    try:
        client.inspect_volume(m.source)
        return False
    except NotFound:
        pass
    client.create_volume(m.source, driver="local", labels={**labels, label("volume"): m.kind})
    try:
        container = client.create_container(
            image, entrypoint=_init_command(m.kind, uid, gid), user="0:0",
            labels={**labels, label("volume-init"): m.source},
            host_config=client.create_host_config(binds={m.source: {"bind": INIT_TARGET, "mode": "rw"}},
                                                  network_mode="none"),
        )
        try:
            client.start(container)
            status = client.wait(container, timeout=60)["StatusCode"]
            if status != 0:
                output = client.logs(container, tail=5).decode("utf8", "replace").strip()
                raise RuntimeError(f"setting the owner of volume {m.source} failed ({status}): {output}")
        finally:
            client.remove_container(container, force=True)
    except (APIError, RuntimeError):
        # never leave a root-owned volume behind: the next spawn would take it as ready
        client.remove_volume(m.source, force=True)
        raise
    return True
