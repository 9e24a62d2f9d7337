"""Roles: the one model of a role's limits and team pool, and the rule that merges several roles.

A role is a JupyterHub group. Its document - in platform.yaml (`role_policies`), in the quota
store, in the REST API and on the admin page - is parsed and checked by `RolePolicy.from_document`
and nothing else; errors are ConfigError naming the key.

Merge rule: a user in several roles gets the most permissive value per dimension (largest CPU
and RAM limits, largest defaults, most servers, union of environments). A user in no configured
role gets the `default` role.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .environments import Environment, EnvironmentCatalogue
from .errors import ConfigError, PolicyRefusal
from .pools import TeamPool
from .units import MIN_CPU, MIN_MEM, QuantityError, format_cpu, format_memory, parse_memory

DEFAULT_ROLE = "default"
ALL_ENVIRONMENTS = "*"
LIMIT_KEYS = ("max_cpu", "max_mem", "default_cpu", "default_mem", "environments", "max_servers")
POOL_KEYS = ("pool_cpu", "pool_mem", "pool_servers")
DOCUMENT_KEYS = LIMIT_KEYS + POOL_KEYS
# a group name: starts with a letter or digit (any script), then letters, digits and . _ @ + -
ROLE_NAME_RE = re.compile(r"^[^\W_][\w.@+-]{0,254}$")
# sanity ceilings: catch typos (16000 for 16) and numbers no cluster has
MAX_CPU = 1024.0
MAX_MEM = 64 * 1024**4
MAX_SERVERS = 1000
MAX_POOL_CPU = 1_000_000.0
MAX_POOL_MEM = 1024**5
MAX_POOL_SERVERS = 100_000


def check_role_name(name: object) -> str:
    if not isinstance(name, str) or not ROLE_NAME_RE.fullmatch(name):
        raise ConfigError("role", "must be a group name: letters and digits (any script), then letters, digits"
                                  " and . _ @ + - (at most 255 characters)")
    return name


def _cpu(key: str, raw: object, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        shown = f"a string {raw[:40]!r}" if isinstance(raw, str) else type(raw).__name__
        raise ConfigError(key, f"expected a number of CPUs, got {shown}")
    if not math.isfinite(raw) or not low <= raw <= high:
        raise ConfigError(key, f"{raw!r:.40} is outside {format_cpu(low)} to {format_cpu(high)}")
    return round(float(raw), 3)


def _mem(key: str, raw: object, low: int, high: int) -> int:
    if isinstance(raw, float) and not raw.is_integer():
        raise ConfigError(key, "expected whole bytes or a size such as '4G'")
    try:
        value = parse_memory(raw)
    except QuantityError as e:
        raise ConfigError(key, str(e)) from None
    except OverflowError:
        value = high + 1
    if not low <= value <= high:
        raise ConfigError(key, f"{str(raw)[:40]} is outside {format_memory(low)} to {format_memory(high)}")
    return value


def _count(key: str, raw: object, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
        isinstance(raw, float) and (not math.isfinite(raw) or not raw.is_integer())
    ):
        raise ConfigError(key, f"expected a whole number, got {str(raw)[:40]!r}")
    if not low <= raw <= high:
        raise ConfigError(key, f"{int(raw)} is outside {low} to {high}")
    return int(raw)


def _environments(raw: object, catalogue: EnvironmentCatalogue | None) -> frozenset[str] | None:
    if raw is None or raw == ALL_ENVIRONMENTS:
        return None
    if isinstance(raw, str) or not isinstance(raw, Iterable) or not all(isinstance(e, str) for e in raw):
        raise ConfigError("environments", "expected a list of environment slugs or '*'")
    slugs = frozenset(raw)
    if catalogue is not None:
        missing = sorted(slugs - set(catalogue.slugs))
        if missing:
            raise ConfigError("environments", f"unknown {missing}; defined: {', '.join(catalogue.slugs) or 'none'}")
    return slugs


@dataclass(frozen=True)
class RolePolicy:
    """One role's limits per server and its team pool (None: unlimited)."""

    name: str
    max_cpu: float
    max_mem: int
    default_cpu: float | None = None
    default_mem: int | None = None
    # None means every environment in the catalogue
    environments: frozenset[str] | None = None
    max_servers: int = 1
    pool_cpu: float | None = None
    pool_mem: int | None = None
    pool_servers: int | None = None

    def allows_environment(self, env: Environment) -> bool:
        in_role = self.environments is None or env.slug in self.environments
        return in_role and env.allows_role(self.name)

    @property
    def pool(self) -> TeamPool:
        return TeamPool(self.name, self.pool_cpu, self.pool_mem, self.pool_servers)

    @classmethod
    def from_document(cls, name: str, raw: object, catalogue: EnvironmentCatalogue | None = None) -> RolePolicy:
        """Parse and check a role document; ConfigError names the key. With a catalogue, the
        environments must exist and each one the role may start must fit in its max_mem."""
        if not isinstance(raw, Mapping):
            raise ConfigError("", f"expected a mapping with keys {', '.join(DOCUMENT_KEYS)}")
        unknown = sorted(str(k)[:40] for k in raw if k not in DOCUMENT_KEYS)
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; allowed: {', '.join(DOCUMENT_KEYS)}")
        for required in ("max_cpu", "max_mem"):
            if raw.get(required) is None:
                raise ConfigError(required, "required")

        def optional(key, parse, *bounds):
            return None if raw.get(key) is None else parse(key, raw[key], *bounds)

        policy = cls(
            name=name,
            max_cpu=_cpu("max_cpu", raw["max_cpu"], MIN_CPU, MAX_CPU),
            max_mem=_mem("max_mem", raw["max_mem"], MIN_MEM, MAX_MEM),
            default_cpu=optional("default_cpu", _cpu, MIN_CPU, MAX_CPU),
            default_mem=optional("default_mem", _mem, MIN_MEM, MAX_MEM),
            environments=_environments(raw.get("environments"), catalogue),
            max_servers=1 if raw.get("max_servers") is None else _count("max_servers", raw["max_servers"], 0,
                                                                          MAX_SERVERS),
            pool_cpu=optional("pool_cpu", _cpu, MIN_CPU, MAX_POOL_CPU),
            pool_mem=optional("pool_mem", _mem, MIN_MEM, MAX_POOL_MEM),
            pool_servers=optional("pool_servers", _count, 0, MAX_POOL_SERVERS),
        )
        policy._check_consistent()
        if catalogue is not None:
            policy._check_fits(catalogue)
        return policy

    def _check_consistent(self) -> None:
        if self.default_cpu is not None and self.default_cpu > self.max_cpu:
            raise ConfigError("default_cpu", f"{format_cpu(self.default_cpu)} is above max_cpu"
                                             f" {format_cpu(self.max_cpu)}")
        if self.default_mem is not None and self.default_mem > self.max_mem:
            raise ConfigError("default_mem", f"{format_memory(self.default_mem)} is above max_mem"
                                             f" {format_memory(self.max_mem)}")
        # a pool smaller than one largest server would refuse servers the role allows
        if self.pool_cpu is not None and self.pool_cpu < self.max_cpu:
            raise ConfigError("pool_cpu", f"{format_cpu(self.pool_cpu)} is below max_cpu {format_cpu(self.max_cpu)}:"
                                          " no server of the largest size would fit")
        if self.pool_mem is not None and self.pool_mem < self.max_mem:
            raise ConfigError("pool_mem", f"{format_memory(self.pool_mem)} is below max_mem"
                                          f" {format_memory(self.max_mem)}: no server of the largest size would fit")

    def _check_fits(self, catalogue: EnvironmentCatalogue) -> None:
        """A role may not allow a server too small for an environment it may start."""
        for env in catalogue.for_role(self.name, self.environments):
            if self.max_mem < env.min_mem:
                raise ConfigError("max_mem", f"{format_memory(self.max_mem)} is below environment {env.slug!r}'s"
                                             f" min_mem {format_memory(env.min_mem)}: its servers would run out"
                                             " of memory")

    def document(self) -> dict:
        """The normalized document the quota store keeps and the API returns."""
        return {
            "max_cpu": self.max_cpu, "max_mem": self.max_mem, "default_cpu": self.default_cpu,
            "default_mem": self.default_mem, "max_servers": self.max_servers,
            "environments": ALL_ENVIRONMENTS if self.environments is None else sorted(self.environments),
            "pool_cpu": self.pool_cpu, "pool_mem": self.pool_mem, "pool_servers": self.pool_servers,
        }


def display_document(document: Mapping) -> dict:
    """A document in human units for pages: memory as '4G', CPUs as '2'."""
    out = dict(document)
    for key in ("max_mem", "default_mem", "pool_mem"):
        if out.get(key) is not None:
            out[key] = format_memory(out[key])
    for key in ("max_cpu", "default_cpu", "pool_cpu"):
        if out.get(key) is not None:
            out[key] = format_cpu(out[key])
    return out


def role_policies_from_config(raw: object, catalogue: EnvironmentCatalogue | None = None) -> dict[str, RolePolicy]:
    """`role_policies` from configuration; ConfigError names role_policies['ROLE'].KEY."""
    if not isinstance(raw, Mapping):
        raise ConfigError("role_policies", "expected a mapping of role name -> limits")
    policies = {}
    for name, document in raw.items():
        where = f"role_policies[{name!r}]"
        try:
            check_role_name(name)
            policies[name] = RolePolicy.from_document(name, document, catalogue)
        except ConfigError as e:
            raise (ConfigError(where, e.message) if e.field == "role" else e.within(where)) from None
    return policies


@dataclass(frozen=True)
class UserAccess:
    """What one user may start: the merged limits of all their roles."""

    roles: tuple[str, ...]
    max_cpu: float
    max_mem: int
    default_cpu: float | None
    default_mem: int | None
    max_servers: int
    environments: tuple[Environment, ...] = field(default_factory=tuple)

    def environment(self, slug: str) -> Environment | None:
        return next((e for e in self.environments if e.slug == slug), None)

    @property
    def default_environment(self) -> Environment | None:
        marked = [e for e in self.environments if e.default]
        return (marked or list(self.environments) or [None])[0]


def _max_optional(values: Iterable[float | int | None]):
    present = [v for v in values if v is not None]
    return max(present) if present else None


def resolve_access(
    groups: Iterable[str],
    policies: Mapping[str, RolePolicy],
    catalogue: EnvironmentCatalogue,
    admin_contact: str = "your platform administrators",
) -> UserAccess:
    """Merge the user's roles (most permissive per dimension) and list usable environments."""
    roles = sorted(set(groups) & set(policies))
    if not roles:
        if DEFAULT_ROLE not in policies:
            configured = ", ".join(sorted(policies)) or "none"
            raise PolicyRefusal(
                f"You are not in any role that may start a server (roles: {configured})."
                f" Ask {admin_contact} to add you to one."
            )
        roles = [DEFAULT_ROLE]
    chosen = [policies[r] for r in roles]
    max_mem = max(p.max_mem for p in chosen)
    usable = tuple(
        env for env in catalogue
        if any(policy.allows_environment(env) for policy in chosen) and env.min_mem <= max_mem
    )
    return UserAccess(
        roles=tuple(roles),
        max_cpu=max(p.max_cpu for p in chosen),
        max_mem=max_mem,
        default_cpu=_max_optional(p.default_cpu for p in chosen),
        default_mem=_max_optional(p.default_mem for p in chosen),
        max_servers=max(p.max_servers for p in chosen),
        environments=usable,
    )


def _shown(key: str, value: object) -> str:
    if value is None:
        return "unlimited" if key.startswith("pool_") else "not set"
    if key == "environments":
        return "all" if value == ALL_ENVIRONMENTS else ", ".join(value) or "none"
    return str(display_document({key: value})[key])


def describe_change(before: Mapping | None, after: Mapping | None) -> list[str]:
    """A document change in words and units: ["max_mem 2G -> 4G", "pool_cpu unlimited -> 8"]."""
    if before is None and after is None:
        return []
    if before is None:
        return ["created: " + ", ".join(f"{k} {_shown(k, after.get(k))}" for k in DOCUMENT_KEYS
                                       if after.get(k) is not None)]
    if after is None:
        return ["deleted"]
    return [f"{k} {_shown(k, before.get(k))} -> {_shown(k, after.get(k))}"
            for k in DOCUMENT_KEYS if before.get(k) != after.get(k)]
