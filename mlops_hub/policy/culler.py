"""platform.yaml's `culler:` section: when idle user servers are stopped (jupyterhub-idle-culler).

Pure parsing and checking; the hub turns the result into a JupyterHub service (mlops_hub.hub.culler).
Durations are a number of seconds or a number with one unit: `90s`, `30m`, `1h`, `1.5h`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

SECTION = "culler"
# the same defaults as Zero to JupyterHub and The Littlest JupyterHub: an hour idle, checked every 10 minutes
DEFAULT_TIMEOUT = 3600
# the culler's own default interval is timeout/2; a long timeout checks at least this often
MAX_DEFAULT_EVERY = 600
KEYS = ("enabled", "timeout", "max_age", "every")

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*$")
_DURATION_HELP = "a duration such as 90s, 30m, 1h or a number of seconds"


@dataclass(frozen=True)
class CullerSettings:
    """What jupyterhub-idle-culler is started with; all durations in whole seconds."""

    enabled: bool = True
    timeout: int = DEFAULT_TIMEOUT
    max_age: int = 0  # 0: an active server is never stopped for its age
    every: int = min(DEFAULT_TIMEOUT // 2, MAX_DEFAULT_EVERY)


def parse_duration(key: str, value: object) -> int:
    """Whole seconds (rounded) from a number of seconds or a string with unit s, m or h."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, f"expected {_DURATION_HELP}, got {type(value).__name__}")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(key, f"expected {_DURATION_HELP} (units s, m, h), got {value[:40]!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(key, f"expected {_DURATION_HELP}, not negative, got {value!r}")
    return round(seconds)


def culler_from_config(raw: object) -> CullerSettings:
    """The `culler:` section (None or empty: the defaults); ConfigError names `culler.<key>`."""
    if raw is None:
        return CullerSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(SECTION, f"expected a mapping with {', '.join(KEYS)}, got {type(raw).__name__}")
    unknown = sorted(str(k)[:40] for k in raw if k not in KEYS)
    if unknown:
        raise ConfigError(f"{SECTION}.{unknown[0]}", f"not a culler setting; allowed: {', '.join(KEYS)}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{SECTION}.enabled", f"expected true or false, got {enabled!r}")
    timeout = _duration(raw, "timeout", DEFAULT_TIMEOUT, minimum=1)
    max_age = _duration(raw, "max_age", 0, minimum=0)
    every = _duration(raw, "every", max(1, min(timeout // 2, MAX_DEFAULT_EVERY)), minimum=1)
    return CullerSettings(enabled, timeout, max_age, every)


def _duration(raw: Mapping, key: str, default: int, minimum: int) -> int:
    """A duration setting; absent or empty (`every:`) is the default."""
    value = raw.get(key)
    if value is None:
        return default
    seconds = parse_duration(f"{SECTION}.{key}", value)
    if seconds < minimum:
        raise ConfigError(f"{SECTION}.{key}", f"must be at least {minimum} second, got {value!r}")
    return seconds
