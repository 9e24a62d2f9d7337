"""Validation of a spawn request: one function for form posts and REST `user_options`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .environments import Environment
from .errors import SpawnOptionError
from .roles import RolePolicy, UserAccess
from .units import MIN_CPU, MIN_MEM, QuantityError, format_cpu, format_memory, parse_cpu, parse_memory

OPTION_KEYS = ("environment", "cpu_limit", "mem_limit")


@dataclass(frozen=True)
class SpawnRequest:
    """A validated request: what swarm will be asked to run."""

    environment: Environment
    cpu_limit: float
    mem_limit: int
    role: str


def cpu_range_text(access: UserAccess) -> str:
    return f"{format_cpu(MIN_CPU)} to {format_cpu(access.max_cpu)} CPUs"


def mem_range_text(access: UserAccess, env: Environment | None = None) -> str:
    low = max(MIN_MEM, env.min_mem) if env is not None else MIN_MEM
    return f"{format_memory(low)} to {format_memory(access.max_mem)}"


def _choose_environment(options: Mapping[str, object], access: UserAccess) -> Environment:
    allowed = ", ".join(e.slug for e in access.environments) or "none"
    if "environment" not in options or options["environment"] in (None, ""):
        env = access.default_environment
        if env is None:
            raise SpawnOptionError("environment", "no environment is available to your roles")
        return env
    slug = options["environment"]
    if not isinstance(slug, str):
        raise SpawnOptionError("environment", f"expected one of: {allowed}; got {type(slug).__name__}")
    env = access.environment(slug)
    if env is None:
        if "/" in slug or ":" in slug:
            raise SpawnOptionError(
                "environment", f"takes an environment name, not an image; choose one of: {allowed}"
            )
        raise SpawnOptionError(
            "environment", f"{slug[:64]!r} is not available to you; choose one of: {allowed}"
        )
    return env


def _default_size(env_value, access_default, maximum):
    value = env_value if env_value is not None else access_default
    return maximum if value is None else min(value, maximum)


def _size(field: str, raw, parse, minimum, maximum, default, range_text: str):
    """One CPU or memory option: the default when absent, else parsed and range-checked."""
    if raw is None or raw == "":
        return max(minimum, default)
    try:
        value = parse(raw)
    except QuantityError as e:
        raise SpawnOptionError(field, f"{e}; allowed: {range_text}") from None
    if not minimum <= value <= maximum:
        raise SpawnOptionError(field, f"{str(raw)[:40]} is outside the allowed range {range_text}")
    return value


def _cpu(options: Mapping[str, object], env: Environment, access: UserAccess) -> float:
    default = _default_size(env.default_cpu, access.default_cpu, access.max_cpu)
    cpu = _size("cpu_limit", options.get("cpu_limit"), parse_cpu, MIN_CPU, access.max_cpu, default,
                cpu_range_text(access))
    return round(cpu, 3)


def _mem(options: Mapping[str, object], env: Environment, access: UserAccess) -> int:
    default = _default_size(env.default_mem, access.default_mem, access.max_mem)
    # below the environment's minimum the server would be killed for lack of memory
    low = max(MIN_MEM, env.min_mem)
    return _size("mem_limit", options.get("mem_limit"), parse_memory, low, access.max_mem, default,
                 f"{mem_range_text(access, env)} for {env.display_name}")


def charged_role(env: Environment, access: UserAccess, policies: Mapping[str, RolePolicy]) -> str:
    """The role a server runs under: the first of the user's roles that allows its environment."""
    for role in access.roles:
        policy = policies.get(role)
        if policy is not None and policy.allows_environment(env):
            return role
    return access.roles[0]


def validate_spawn_options(
    options: object, access: UserAccess, policies: Mapping[str, RolePolicy]
) -> SpawnRequest:
    """Turn raw user options into a SpawnRequest, or raise SpawnOptionError naming the field."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise SpawnOptionError("user_options", f"expected an object with keys {list(OPTION_KEYS)}")
    unknown = sorted(str(k)[:40] for k in options if k not in OPTION_KEYS)
    if unknown:
        raise SpawnOptionError(
            unknown[0], f"unknown option; allowed options are: {', '.join(OPTION_KEYS)}"
        )
    env = _choose_environment(options, access)
    return SpawnRequest(
        environment=env,
        cpu_limit=_cpu(options, env, access),
        mem_limit=_mem(options, env, access),
        role=charged_role(env, access, policies),
    )
