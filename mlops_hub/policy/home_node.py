"""Homes on local volumes stay on one node: a user's servers and jobs run where their home volume is.

A local volume exists only on the node that made it. The hub makes a user's home on its own node at the first
spawn (swarm/volumes.py) and records that node (swarm/home_node.py); every later server and job of the user is
constrained to it, so files are never split over nodes. `mlops-hub home move` moves a home and its record.
Pure: the record and node names are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable


def home_constraint(node_id: str) -> str:
    return f"node.id == {node_id}"


def home_line(hostname: str) -> str:
    """The spawn form's line for a user whose home is pinned (shown when the swarm has several nodes)."""
    return f"Your files are on node {hostname}: your servers start there."


def home_unplaceable_advice(hostname: str, state: str, availability: str, admin_contact: str,
                            missing: str = "") -> str | None:
    """Why a pinned server cannot start when its home's node cannot take it; None when the node can. `missing`:
    what the node lacks of the labels the environment and role need (policy/placement.missing_labels), if any."""
    if state == "ready" and availability == "active" and not missing:
        return None
    move = f"{admin_contact} can move your files to another node (mlops-hub home move)."
    if state == "ready" and availability == "active":
        return f"Your files are on node {hostname}, where this server may not run: {missing} {move}"
    why = "is down" if state != "ready" else f"is {'drained' if availability == 'drain' else 'paused'}"
    return f"Your files are on node {hostname}, which {why}: your server can start once it is back, or {move}"


def split_files_error(user: str, shared_kinds: Iterable[str]) -> str | None:
    """Why a user whose home was moved off the hub's node cannot start: their team folders or datasets (local
    volumes, made on the hub's node) would be empty there. None when they have none."""
    kinds = sorted(set(shared_kinds))
    if not kinds:
        return None
    return (f"{user}'s home was moved to another node, but their {' and '.join(kinds)} folders are local volumes on"
            " the hub's node: the server would see them empty there. Move the home back (mlops-hub home move) or use"
            " storage backend nfs")


def move_refusal(user: str, running: Iterable[str], shared_roles: Iterable[str], target_is_home: bool) -> str | None:
    """Why `mlops-hub home move USER` must not run now; None when it may. `shared_roles`: roles with team folders
    or datasets, which on local volumes stay on the hub's node."""
    running = sorted(running)
    if running:
        return (f"{user} has running servers or jobs ({', '.join(running)}): stop them first (a home in use would"
                " be copied half-written)")
    roles = sorted(shared_roles)
    if roles:
        return (f"storage keeps team folders or datasets on local volumes (roles {', '.join(roles)}), on the hub's"
                " node: a home elsewhere would split the user's files; use storage backend nfs to spread homes")
    if target_is_home:
        return f"{user}'s home is already on that node"
    return None


def node_refusal(which: str, hostname: str, state: str, availability: str) -> str | None:
    """Why the copy cannot run on a node (`which`: old or new); None when it can."""
    if state != "ready":
        return f"the {which} node {hostname} is {state}: the copy runs on both nodes; try again once it is back"
    if availability != "active":
        return (f"the {which} node {hostname} is {availability}: the copy runs a task there; make it active for the"
                f" move (docker node update --availability active {hostname})")
    return None
