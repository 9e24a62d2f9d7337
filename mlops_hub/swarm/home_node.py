"""Where each user's local home volume is, recorded as a Swarm config (visible from every manager, unlike a
volume, which only its own node's Docker lists). One config per user: its data is the node ID; moving a home
writes a new one and removes the old (configs cannot change)."""

from __future__ import annotations

import hashlib
import weakref

import docker

from ..names import LABEL_PREFIX_KEY, label

LABEL_HOME_USER = label("home-user")
LABEL_HOME_NODE = label("home-node")


def _config_name(prefix: str, user: str, node_id: str) -> str:
    # a user name may hold characters a config name may not: a hash keeps it valid and unique
    return f"{prefix}-home-{hashlib.sha256(user.encode()).hexdigest()[:16]}-{node_id[:12]}"


def _records(client: docker.APIClient, prefix: str, user: str) -> list[dict]:
    found = client.configs(filters={"label": [f"{LABEL_PREFIX_KEY}={prefix}", f"{LABEL_HOME_USER}={user}"]})
    return sorted(found, key=lambda c: c["CreatedAt"])


def recorded_home_node(client: docker.APIClient, prefix: str, user: str) -> str | None:
    records = _records(client, prefix, user)
    return records[-1]["Spec"]["Labels"][LABEL_HOME_NODE] if records else None


def record_home_node(client: docker.APIClient, prefix: str, user: str, node_id: str) -> None:
    """The user's home is on `node_id` from now on (earlier records removed)."""
    old = _records(client, prefix, user)
    if old and old[-1]["Spec"]["Labels"][LABEL_HOME_NODE] == node_id:
        return
    client.create_config(_config_name(prefix, user, node_id), node_id.encode(), labels={
        LABEL_PREFIX_KEY: prefix, LABEL_HOME_USER: user, LABEL_HOME_NODE: node_id})
    for record in old:
        client.remove_config(record["ID"])


# a daemon's node ID is fixed while it stays in the swarm (and the hub's service leaves with it): asked once per
# client, not on every spawn (`docker info` is one of the slower calls on a busy daemon)
_node_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def this_node_id(client: docker.APIClient) -> str:
    """The swarm node ID of the daemon `client` talks to."""
    if client not in _node_ids:
        _node_ids[client] = client.info()["Swarm"]["NodeID"]
    return _node_ids[client]


def ensure_home_node(client: docker.APIClient, prefix: str, user: str) -> tuple[str, bool]:
    """The node holding the user's home, recording this one (where the hub makes homes) at the first spawn; and
    whether it is this node (only then can the hub make the user's volumes)."""
    here = this_node_id(client)
    node = recorded_home_node(client, prefix, user)
    if node is None:
        record_home_node(client, prefix, user, here)
        node = here
    return node, node == here
