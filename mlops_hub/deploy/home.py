"""`mlops-hub home move USER --to NODE`: move a user's home on a local volume to another node, then record it
there, so their next server starts on that node with their files (docs/storage-and-packages.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from ..names import LABEL_PREFIX_KEY, LABEL_USER
from ..policy.home_node import move_refusal, node_refusal
from ..policy.platform import SPAWNER_SECTIONS, load_platform_file
from ..policy.storage import StorageConfig, storage_from_config
from ..swarm.home_move import HomeCopy, MoveFailed, copy_home
from ..swarm.home_node import record_home_node, recorded_home_node
from .shell import DeployError


def platform_storage(platform_config: Path) -> StorageConfig | None:
    """platform.yaml's `storage` setting (in `spawner` or `swarm_spawner`, the later winning, as the hub reads it)."""
    document = load_platform_file(platform_config)
    found = None
    for section in SPAWNER_SECTIONS:
        found = (document.get(section) or {}).get("storage", found)
    return storage_from_config(found)


def find_node(nodes: list[dict], name: str) -> dict:
    """A node by hostname or ID (or an ID's unique start, as `docker node` takes it)."""
    exact = [n for n in nodes if name in (n["ID"], n["Description"]["Hostname"])]
    matches = exact or [n for n in nodes if len(name) >= 4 and n["ID"].startswith(name)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted(n["Description"]["Hostname"] for n in nodes))
    raise DeployError(f"--to: no single node is {name!r}; the swarm's nodes: {known}")


def _state(node: dict) -> tuple[str, str, str]:
    return node["Description"]["Hostname"], node["Status"]["State"], node["Spec"].get("Availability", "active")


def move_home(stack: str, user: str, to: str, platform_config: Path, replace_stale_copy: bool,
              say: Callable[[str], None]) -> str:
    """Copy USER's home to node `to` and record it there; the line to print. Refusals change nothing."""
    storage = platform_storage(platform_config)
    if storage is None or storage.backend != "local":
        raise DeployError(f"{platform_config}: storage.backend is not local: homes on NFS are reachable from every"
                          " node, so there is nothing to move")
    client = docker.APIClient()
    prefix = f"{stack}-lab"
    nodes = client.nodes()
    target = find_node(nodes, to)
    source_id = recorded_home_node(client, prefix, user)
    if source_id is None:
        # nothing to copy: the first server makes the home there (Docker fills a new volume from the image)
        why = node_refusal("new", *_state(target))
        if why:
            raise DeployError(why)
        record_home_node(client, prefix, user, target["ID"])
        return (f"{user} has no home yet: their first server starts on node {target['Description']['Hostname']}"
                " and makes it there.")
    source = next((n for n in nodes if n["ID"] == source_id), None)
    if source is None:
        raise DeployError(f"{user}'s home was on node {source_id[:12]}, which has left the swarm: its files cannot"
                          " be copied from here")
    running = [s["Spec"]["Name"] for s in client.services(filters={"label": [f"{LABEL_PREFIX_KEY}={prefix}",
                                                                             f"{LABEL_USER}={user}"]})]
    shared = [role for role, rs in storage.roles.items() if rs.team or rs.datasets]
    why = (move_refusal(user, running, shared, target["ID"] == source_id)
           or node_refusal("old", *_state(source)) or node_refusal("new", *_state(target)))
    if why:
        raise DeployError(why)
    hub = client.inspect_service(f"{stack}_hub")
    image = hub["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    volume = storage.mounts(prefix, user, [])[0].source
    old_host, new_host = source["Description"]["Hostname"], target["Description"]["Hostname"]
    say(f"copying {user}'s home (volume {volume}) from node {old_host} to node {new_host}")
    try:
        copied = copy_home(client, HomeCopy(prefix, volume, image, source_id, target["ID"], replace_stale_copy), say)
    except MoveFailed as e:
        raise DeployError(f"the copy failed, nothing was changed ({user}'s servers still start on {old_host}):"
                          f" {e}") from None
    record_home_node(client, prefix, user, target["ID"])
    return (f"{user}'s home is now on node {new_host} ({copied}); their servers start there. The old copy stays on"
            f" {old_host} as volume {volume}: remove it there (docker volume rm {volume}) once they have checked"
            " their files.")
