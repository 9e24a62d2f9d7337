"""Role limits, and the rule that merges the roles of a user in several groups.

Merge rule: a user in several roles gets the most permissive value per dimension
(largest CPU and RAM limits, largest defaults, most servers, union of environments).
Roles are JupyterHub groups; a user in no configured role gets the `default` role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .environments import Environment, EnvironmentCatalogue
from .errors import ConfigError, PolicyRefusal, checked_mapping
from .units import MIN_CPU, MIN_MEM, QuantityError, format_cpu, format_memory, parse_cpu, parse_memory

DEFAULT_ROLE = "default"
ALL_ENVIRONMENTS = "*"
_ROLE_KEYS = {"max_cpu", "max_mem", "default_cpu", "default_mem", "environments", "max_servers"}
# team pool keys are validated by policy.quota_spec; RolePolicy itself ignores them
_POOL_KEYS = {"pool_cpu", "pool_mem", "pool_servers"}


@dataclass(frozen=True)
class RolePolicy:
    name: str
    max_cpu: float
    max_mem: int
    default_cpu: float | None = None
    default_mem: int | None = None
    # None means every environment in the catalogue
    environments: frozenset[str] | None = None
    max_servers: int = 1

    def allows_environment(self, env: Environment) -> bool:
        in_role = self.environments is None or env.slug in self.environments
        return in_role and env.allows_role(self.name)

    @classmethod
    def from_config(cls, name: str, raw: object) -> RolePolicy:
        where = f"role_policies[{name!r}]"
        raw = checked_mapping(where, raw, _ROLE_KEYS | _POOL_KEYS, "expected a mapping of limits")
        for required in ("max_cpu", "max_mem"):
            if raw.get(required) is None:
                raise ConfigError(f"{where}.{required}: required")
        max_cpu = _quantity(where, raw, "max_cpu", parse_cpu)
        max_mem = _quantity(where, raw, "max_mem", parse_memory)
        default_cpu = _quantity(where, raw, "default_cpu", parse_cpu)
        default_mem = _quantity(where, raw, "default_mem", parse_memory)
        if max_cpu < MIN_CPU:
            raise ConfigError(f"{where}.max_cpu: must be at least {format_cpu(MIN_CPU)}")
        if max_mem < MIN_MEM:
            raise ConfigError(f"{where}.max_mem: must be at least {format_memory(MIN_MEM)}")
        envs = raw.get("environments", ALL_ENVIRONMENTS)
        if envs == ALL_ENVIRONMENTS or envs is None:
            environments = None
        elif isinstance(envs, str) or not isinstance(envs, Iterable):
            raise ConfigError(f"{where}.environments: expected a list of slugs or '*'")
        else:
            environments = frozenset(envs)
        max_servers = raw.get("max_servers", 1)
        if isinstance(max_servers, bool) or not isinstance(max_servers, int) or max_servers < 0:
            raise ConfigError(f"{where}.max_servers: expected a whole number >= 0")
        return cls(name, max_cpu, max_mem, default_cpu, default_mem, environments, max_servers)


def _quantity(where: str, raw: Mapping, key: str, parse):
    if raw.get(key) is None:
        return None
    try:
        return parse(raw[key])
    except QuantityError as e:
        raise ConfigError(f"{where}.{key}: {e}") from None


def role_policies_from_config(raw: Mapping[str, object]) -> dict[str, RolePolicy]:
    return {name: RolePolicy.from_config(name, spec) for name, spec in raw.items()}


def check_catalogue_references(
    policies: Mapping[str, RolePolicy], catalogue: EnvironmentCatalogue
) -> None:
    """Fail at start-up, not at spawn, when a role names an environment that does not exist."""
    for policy in policies.values():
        missing = sorted((policy.environments or frozenset()) - set(catalogue.slugs))
        if missing:
            raise ConfigError(
                f"role_policies[{policy.name!r}].environments: unknown {missing};"
                f" defined: {catalogue.slugs}"
            )


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
    usable = tuple(
        env for env in catalogue if any(policy.allows_environment(env) for policy in chosen)
    )
    return UserAccess(
        roles=tuple(roles),
        max_cpu=max(p.max_cpu for p in chosen),
        max_mem=max(p.max_mem for p in chosen),
        default_cpu=_max_optional(p.default_cpu for p in chosen),
        default_mem=_max_optional(p.default_mem for p in chosen),
        max_servers=max(p.max_servers for p in chosen),
        environments=usable,
    )
