"""A role's quota document: validation and normalization, for config seeds and the REST API.

The document has the keys of `role_policies` plus the team pool:
max_cpu, max_mem, default_cpu, default_mem, environments, max_servers, pool_cpu, pool_mem,
pool_servers. Normalized: CPUs are floats, memory is bytes (int), environments a sorted list or
'*', absent optional values are None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .environments import EnvironmentCatalogue
from .request import MIN_CPU, MIN_MEM
from .roles import ALL_ENVIRONMENTS, RolePolicy
from .units import QuantityError, format_cpu, format_memory, parse_cpu, parse_memory

# any script's letters and digits ("аналитики", "fz-é"); \Z, not $, so a trailing newline is refused too
ROLE_NAME_RE = re.compile(r"^[^\W_][\w.@+-]{0,254}\Z")
SPEC_KEYS = ("max_cpu", "max_mem", "default_cpu", "default_mem", "environments", "max_servers",
             "pool_cpu", "pool_mem", "pool_servers")
# a sanity ceiling: catches typos (16000 for 16) and numbers no cluster has
MAX_CPU = 1024.0
MAX_MEM = 64 * 1024**4
MAX_SERVERS = 1000
MAX_POOL_CPU = 1_000_000.0
MAX_POOL_MEM = 1024**5
MAX_POOL_SERVERS = 100_000


class QuotaSpecError(ValueError):
    """A bad value in a quota document; `field` names it (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_role_name(name: object) -> str:
    if not isinstance(name, str) or not ROLE_NAME_RE.match(name):
        raise QuotaSpecError("role", "must be a group name: letters (any script), digits and . _ @ + -, starting with"
                              " a letter or digit (at most 255)")
    return name


def _cpu(field: str, raw: object, low: float, high: float) -> float:
    if isinstance(raw, str):
        raise QuotaSpecError(field, f"expected a number of CPUs, got a string {raw[:40]!r}")
    try:
        value = parse_cpu(raw)
    except QuantityError as e:
        raise QuotaSpecError(field, str(e)) from None
    if not low <= value <= high:
        raise QuotaSpecError(field, f"{format_cpu(value) if value < 1e15 else raw} is outside {low:g} to {high:g}")
    return round(value, 3)


def _mem(field: str, raw: object, low: int, high: int) -> int:
    if isinstance(raw, float) and not raw.is_integer():
        raise QuotaSpecError(field, "expected whole bytes or a size such as '4G'")
    try:
        value = parse_memory(raw)
    except QuantityError as e:
        raise QuotaSpecError(field, str(e)) from None
    except OverflowError:
        raise QuotaSpecError(field, f"is outside {format_memory(low)} to {format_memory(high)}") from None
    if not low <= value <= high:
        raise QuotaSpecError(field, f"{str(raw)[:40]} is outside {format_memory(low)} to {format_memory(high)}")
    return value


def _count(field: str, raw: object, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
        isinstance(raw, float) and (not math.isfinite(raw) or not raw.is_integer())
    ):
        raise QuotaSpecError(field, f"expected a whole number, got {type(raw).__name__}")
    value = int(raw)
    if not low <= value <= high:
        raise QuotaSpecError(field, f"{value} is outside {low} to {high}")
    return value


def normalize_role_spec(raw: object, catalogue: EnvironmentCatalogue | None = None) -> dict:
    """Validate a document; return it normalized. Raises QuotaSpecError naming the field."""
    if not isinstance(raw, Mapping):
        raise QuotaSpecError("body", f"expected a JSON object with keys {', '.join(SPEC_KEYS)}")
    unknown = sorted(str(k)[:40] for k in raw if k not in SPEC_KEYS)
    if unknown:
        raise QuotaSpecError(unknown[0], f"unknown key; allowed: {', '.join(SPEC_KEYS)}")
    for required in ("max_cpu", "max_mem"):
        if raw.get(required) is None:
            raise QuotaSpecError(required, "required")

    def opt(key, parse, *bounds):
        return None if raw.get(key) is None else parse(key, raw[key], *bounds)

    spec = {
        "max_cpu": _cpu("max_cpu", raw["max_cpu"], MIN_CPU, MAX_CPU),
        "max_mem": _mem("max_mem", raw["max_mem"], MIN_MEM, MAX_MEM),
        "default_cpu": opt("default_cpu", _cpu, MIN_CPU, MAX_CPU),
        "default_mem": opt("default_mem", _mem, MIN_MEM, MAX_MEM),
        "max_servers": 1 if raw.get("max_servers") is None else _count("max_servers", raw["max_servers"], 0,
                                                                          MAX_SERVERS),
        "pool_cpu": opt("pool_cpu", _cpu, MIN_CPU, MAX_POOL_CPU),
        "pool_mem": opt("pool_mem", _mem, MIN_MEM, MAX_POOL_MEM),
        "pool_servers": opt("pool_servers", _count, 0, MAX_POOL_SERVERS),
    }
    envs = raw.get("environments", ALL_ENVIRONMENTS)
    if envs is None or envs == ALL_ENVIRONMENTS:
        spec["environments"] = ALL_ENVIRONMENTS
    elif isinstance(envs, list) and all(isinstance(e, str) for e in envs):
        if catalogue is not None:
            missing = sorted(set(envs) - set(catalogue.slugs))
            if missing:
                raise QuotaSpecError(
                    "environments", f"unknown {missing}; defined: {', '.join(catalogue.slugs) or 'none'}"
                )
        spec["environments"] = sorted(set(envs))
    else:
        raise QuotaSpecError("environments", "expected a list of environment slugs or '*'")

    if spec["default_cpu"] is not None and spec["default_cpu"] > spec["max_cpu"]:
        raise QuotaSpecError("default_cpu", f"{format_cpu(spec['default_cpu'])} is above max_cpu "
                                            f"{format_cpu(spec['max_cpu'])}")
    if spec["default_mem"] is not None and spec["default_mem"] > spec["max_mem"]:
        raise QuotaSpecError("default_mem", f"{format_memory(spec['default_mem'])} is above max_mem "
                                            f"{format_memory(spec['max_mem'])}")
    # a pool smaller than one largest server would refuse servers the role allows
    if spec["pool_cpu"] is not None and spec["pool_cpu"] < spec["max_cpu"]:
        raise QuotaSpecError("pool_cpu", f"{format_cpu(spec['pool_cpu'])} is below max_cpu "
                                         f"{format_cpu(spec['max_cpu'])}: no server of the largest size would fit")
    if spec["pool_mem"] is not None and spec["pool_mem"] < spec["max_mem"]:
        raise QuotaSpecError("pool_mem", f"{format_memory(spec['pool_mem'])} is below max_mem "
                                         f"{format_memory(spec['max_mem'])}: no server of the largest size would fit")
    return spec


def spec_from_config(name: str, raw: Mapping) -> dict:
    """A `role_policies` entry as a normalized document (config allows CPU as a string)."""
    raw = dict(raw)
    for key in ("max_cpu", "default_cpu", "pool_cpu"):
        if isinstance(raw.get(key), str):
            try:
                raw[key] = parse_cpu(raw[key])
            except QuantityError as e:
                raise QuotaSpecError(f"role_policies[{name!r}].{key}", str(e)) from None
    if isinstance(raw.get("environments"), (tuple, set, frozenset)):
        raw["environments"] = list(raw["environments"])
    try:
        return normalize_role_spec(raw)
    except QuotaSpecError as e:
        raise QuotaSpecError(f"role_policies[{name!r}].{e.field}", e.message) from None


def role_policy_from_spec(name: str, spec: Mapping) -> RolePolicy:
    envs = spec.get("environments", ALL_ENVIRONMENTS)
    return RolePolicy(
        name=name,
        max_cpu=spec["max_cpu"],
        max_mem=spec["max_mem"],
        default_cpu=spec.get("default_cpu"),
        default_mem=spec.get("default_mem"),
        environments=None if envs == ALL_ENVIRONMENTS else frozenset(envs),
        max_servers=spec.get("max_servers", 1),
    )


def display_spec(spec: Mapping) -> dict:
    """Human units for pages: memory as '4G', CPUs as '2'."""
    out = dict(spec)
    for key in ("max_mem", "default_mem", "pool_mem"):
        if out.get(key) is not None:
            out[key] = format_memory(out[key])
    for key in ("max_cpu", "default_cpu", "pool_cpu"):
        if out.get(key) is not None:
            out[key] = format_cpu(out[key])
    return out
