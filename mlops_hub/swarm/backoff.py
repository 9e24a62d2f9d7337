"""How often a starting server is looked at: fast when it starts alone, slower as more start at once.

Pure policy, no I/O. Every look is a Docker API call or an HTTP request made by the hub's one process
(dockerspawner runs all Docker calls on one thread), so the hub spends a fixed budget of looks per
second across all spawns in flight instead of a fixed interval per spawn: a storm of 30 starts at a
50 ms interval was 600 calls a second queued behind each other and the hub's own API.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadinessBackoff:
    """`interval` = every spawn's share of `polls_per_second`, never below `min_interval` nor above
    `max_interval` (seconds)."""

    min_interval: float = 0.05
    polls_per_second: float = 20.0
    max_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {self.min_interval:g}")
        if self.polls_per_second <= 0:
            raise ValueError(f"polls_per_second must be > 0, got {self.polls_per_second:g}")
        if self.max_interval < self.min_interval:
            raise ValueError(f"max_interval ({self.max_interval:g}) must be >= min_interval ({self.min_interval:g})")

    def interval(self, concurrent_spawns: int) -> float:
        """Seconds between two looks of one spawn while `concurrent_spawns` (this one included) wait."""
        share = max(1, concurrent_spawns) / self.polls_per_second
        return min(self.max_interval, max(self.min_interval, share))


class SpawnsInFlight:
    """How many spawns of this hub are waiting for their server now (a counter the spawner enters/leaves)."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> SpawnsInFlight:
        self.count += 1
        return self

    def __exit__(self, *exc) -> None:
        self.count -= 1
