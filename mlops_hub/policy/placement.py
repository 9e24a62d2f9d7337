"""Where a server may run: an environment's required node labels and a role's node pool, as Swarm
placement constraints; and, when no node qualifies, which label is missing. Pure: the nodes' labels
are passed in.

Swarm's constraints compare a node label with `==` or `!=` (values case-insensitively, keys as
written), and refuse an empty value: there is no "the label exists" test, and a node labelled
`--label-add highmem` (empty value) cannot be told from one without it. So a bare name in
`node_labels` means the value `true` (`node.labels.highmem == true`); label such nodes `highmem=true`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..names import LABEL_NODE_POOL
from .errors import ConfigError

# a bare name in `node_labels` stands for this value (see above)
BARE_LABEL_VALUE = "true"
# a subset of what Swarm takes in a constraint (keys [a-z0-9._-], values without operators or spaces)
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
POOL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
NODE_POOL_KEY = "node_pool"


@dataclass(frozen=True)
class NodeRequirement:
    """One node label a server needs, and who asks for it (for the message when no node has it)."""

    key: str
    value: str
    # "environment 'GPU'" or "role 'data-engineers'"
    wanted_by: str

    @property
    def constraint(self) -> str:
        return f"node.labels.{self.key} == {self.value}"

    @property
    def label(self) -> str:
        return f"{self.key}={self.value}"

    def met_by(self, labels: Mapping[str, str]) -> bool:
        # Swarm compares the value case-insensitively, the key as written
        return self.key in labels and str(labels[self.key]).casefold() == self.value.casefold()


def _label_pair(where: str, key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str) or not LABEL_KEY_RE.match(key):
        raise ConfigError(where, f"label name {str(key)[:40]!r} must be letters, digits, '.', '_' and '-'"
                                 " (starting with a letter or digit)")
    if isinstance(value, bool):
        value = "true" if value else "false"  # YAML's `gpu: true`
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
        raise ConfigError(where, f"label {key}'s value {str(value)[:40]!r} must be letters, digits, '.', '_',"
                                 " ':', '/' and '-' (not empty: Swarm cannot test that a label merely exists)")
    return key, value


def parse_node_labels(where: str, raw: object) -> tuple[tuple[str, str], ...]:
    """`{gpu: "true"}` or `["gpu=true", "highmem"]` (a bare name: the value `true`) -> ((key, value), ...).
    ConfigError names `where`."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        pairs = [_label_pair(where, k, v) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        pairs = []
        for item in raw:
            if not isinstance(item, str):
                raise ConfigError(where, f"expected 'name=value' or 'name' strings, got {type(item).__name__}")
            key, sep, value = item.partition("=")
            pairs.append(_label_pair(where, key.strip(), value.strip() if sep else BARE_LABEL_VALUE))
    else:
        raise ConfigError(where, "expected a mapping {name: value} or a list of 'name=value' / 'name'")
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(where, f"label {twice[0]!r} is given twice")
    return tuple(pairs)


def parse_node_pool(where: str, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not POOL_NAME_RE.match(raw):
        raise ConfigError(where, f"expected a pool name (lowercase letters, digits, '.', '_', '-'), got"
                                 f" {str(raw)[:40]!r}")
    return raw


def split_node_pools(role_policies: Mapping) -> tuple[dict, dict[str, str]]:
    """platform.yaml's `role_policies` without their `node_pool` keys (a placement setting, not part of a role's
    quota document), and role -> pool for the roles that have one."""
    if not isinstance(role_policies, Mapping):
        return role_policies, {}
    documents, pools = {}, {}
    for name, document in role_policies.items():
        if isinstance(document, Mapping) and NODE_POOL_KEY in document:
            pool = parse_node_pool(f"role_policies[{name!r}].{NODE_POOL_KEY}", document[NODE_POOL_KEY])
            document = {k: v for k, v in document.items() if k != NODE_POOL_KEY}
            if pool is not None:
                pools[name] = pool
        documents[name] = document
    return documents, pools


def requirements(environment_name: str, node_labels: Iterable[tuple[str, str]], role: str | None,
                 node_pool: str | None) -> list[NodeRequirement]:
    """What a server of this environment, started under this role, needs of its node."""
    needs = [NodeRequirement(k, v, f"environment {environment_name!r}") for k, v in node_labels]
    if role is not None and node_pool is not None:
        needs.append(NodeRequirement(LABEL_NODE_POOL, node_pool, f"role {role!r}"))
    return needs


def constraints(needs: Iterable[NodeRequirement]) -> list[str]:
    return [n.constraint for n in needs]


def merge_constraints(extra_placement_spec: Mapping | None, ours: Iterable[str]) -> dict:
    """dockerspawner's `extra_placement_spec` (docker.types.Placement's keyword arguments) with our constraints
    added after the admin's: Swarm requires all of them, so neither side loses its meaning."""
    placement = dict(extra_placement_spec or {})
    admin = list(placement.get("constraints") or [])
    added = [c for c in ours if c not in admin]
    if added:
        placement["constraints"] = admin + added
    return placement


def placement_constraints(extra_placement_spec: Mapping | None, ours: Iterable[str]) -> list[str]:
    """The constraints alone of merge_constraints (a scheduled job's service takes just these)."""
    return list(merge_constraints(extra_placement_spec, ours).get("constraints") or [])


def _describe(need: NodeRequirement) -> str:
    if need.key == LABEL_NODE_POOL:
        return (f"no node is in pool {need.value!r} (label {need.label}), which {need.wanted_by} is limited to")
    return f"no node has the label {need.label}, which {need.wanted_by} requires"


def missing_labels(needs: Sequence[NodeRequirement], nodes_labels: Sequence[Mapping[str, str]]) -> str:
    """One sentence naming what no node (of those that take tasks) has; '' when some node has it all."""
    if not needs:
        return ""
    absent = [n for n in needs if not any(n.met_by(labels) for labels in nodes_labels)]
    if absent:
        text = "; ".join(_describe(n) for n in absent)
        return text[0].upper() + text[1:] + "."
    if any(all(n.met_by(labels) for n in needs) for labels in nodes_labels):
        return ""
    return (f"No one node has all of {', '.join(n.label for n in needs)}"
            f" ({', '.join(sorted({n.wanted_by for n in needs}))}).")


def placeable_nodes_labels(nodes: Iterable[Mapping]) -> list[dict[str, str]]:
    """The labels of each node Swarm places tasks on (ready and active), from `docker node inspect` data."""
    found = []
    for node in nodes:
        if ((node.get("Status") or {}).get("State") or "") != "ready":
            continue
        if ((node.get("Spec") or {}).get("Availability") or "active") != "active":
            continue
        found.append(dict((node.get("Spec") or {}).get("Labels") or {}))
    return found


def labels_text(node_labels: Iterable[tuple[str, str]]) -> str:
    """`gpu=true, highmem=true`, as the form shows an environment's requirement."""
    return ", ".join(f"{k}={v}" for k, v in node_labels)
