"""Parsing and formatting of CPU and memory quantities.

Memory suffixes follow JupyterHub's ByteSpecification: K, M, G, T are powers of 1024.
"""

from __future__ import annotations

import math
import re

_MEMORY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MEMORY_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)i?B?\s*$", re.I)


# the smallest server anyone may ask for; roles may not set limits below these
MIN_CPU = 0.1
MIN_MEM = 128 * 1024**2
# an environment's minimum memory when it does not set `min_mem`: JupyterLab plus one kernel
# (measured for the lab image; docs/configuration.md, "Minimum memory")
DEFAULT_ENV_MIN_MEM = 512 * 1024**2


class QuantityError(ValueError):
    """A value that is not a usable CPU or memory quantity."""


def parse_cpu(value: object) -> float:
    """A CPU count from a number or a numeric string; finite and positive."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError(f"expected a number of CPUs, got {type(value).__name__}")
    try:
        cpu = float(value)
    except (ValueError, OverflowError):
        raise QuantityError(f"expected a number of CPUs, got {str(value)[:40]!r}") from None
    if not math.isfinite(cpu):
        raise QuantityError(f"expected a finite number of CPUs, got {str(value)[:40]!r}")
    return cpu


def parse_memory(value: object) -> int:
    """Bytes from an integer or a string such as '512M', '4G', '1.5G', '2Gi'."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError(f"expected a memory size such as '4G', got {type(value).__name__}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise QuantityError(f"expected a finite memory size, got {value!r}")
        return int(value)
    match = _MEMORY_RE.match(value)
    if not match:
        raise QuantityError(f"expected a memory size such as '4G' or '512M', got {value[:40]!r}")
    number = float(match.group(1))
    size = number * _MEMORY_UNITS[match.group(2).upper()]
    if not math.isfinite(size):
        raise QuantityError(f"expected a finite memory size, got {value[:40]!r}")
    return int(size)


def format_memory(size: int) -> str:
    """The shortest exact-ish human form: 4G, 512M, 1.5G."""
    for unit in ("T", "G", "M", "K"):
        scale = _MEMORY_UNITS[unit]
        if size >= scale:
            value = size / scale
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return str(size)


def format_number(value: float) -> str:
    """Up to three decimals, no trailing zeros: 2, 1.5, 0.125."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


format_cpu = format_number
