"""The smallest memory limit a user server runs in, per environment.

DEFAULT_MIN_MEM is measured (bench/min_memory.py, docs/configuration.md "Minimum memory"):
the lab image's smallest surviving limit for a real session, plus a margin.
"""

from __future__ import annotations

from .environments import Environment

DEFAULT_MIN_MEM = 512 * 1024**2


def environment_min_mem(environment: Environment | None) -> int:
    """The environment's own `min_mem` when it sets one, else the measured default."""
    if environment is not None and environment.min_mem:
        return environment.min_mem
    return DEFAULT_MIN_MEM
