"""Spawns that arrive together take turns at JupyterHub's synchronous part of a spawn.

`User.spawn` does its database work (the server's API token, its OAuth client, several commits) on the event loop
without yielding, about 30 ms a spawn on a busy 2-core node. Thirty spawns at once queue about a second of it
ahead of every other request: the hub API's slowest answers in a spawn storm (docs/benchmarks.md, "Spawn
storm"). The only awaited hook before that work is `Spawner.server_token_scopes` as a callable, so the pacing
wraps the configured scopes in one: each spawn waits for its turn, turns `spacing` seconds apart. A spawn that
arrives alone never waits; in a storm of N the last waits about N x spacing, and other requests get in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_SPACING = 0.05  # seconds between two spawns' synchronous parts: a little more than one such part
SPACING_VARIABLE = "MLOPS_HUB_SPAWN_SPACING"


def spacing_from(text: str | None) -> float:
    """The hub's setting (seconds, 0: off); ValueError naming the variable and what it takes."""
    if text is None or not text.strip():
        return DEFAULT_SPACING
    try:
        spacing = float(text)
    except ValueError:
        spacing = float("nan")
    if not spacing >= 0 or spacing == float("inf"):  # also NaN
        raise ValueError(f"{SPACING_VARIABLE}: seconds between spawns, 0 (off) or more, got {text!r}")
    return spacing


class SpawnPacer:
    """Turns `spacing` seconds apart, in the order asked."""

    def __init__(self, spacing: float, clock: Callable[[], float] = time.monotonic) -> None:
        if spacing < 0:
            raise ValueError(f"spawn spacing: seconds, 0 or more, got {spacing}")
        self.spacing = spacing
        self._clock = clock
        self._next_turn = float("-inf")

    def wait_for(self) -> float:
        """Book the next turn: how long to wait for it (0: now)."""
        now = self._clock()
        turn = max(now, self._next_turn)
        self._next_turn = turn + self.spacing
        return turn - now

    async def turn(self) -> None:
        wait = self.wait_for()
        if wait > 0:
            await asyncio.sleep(wait)


def pace_spawns(c, spacing: float = DEFAULT_SPACING) -> None:
    """Make `c.Spawner.server_token_scopes` (a list, or an admin's callable) a callable that waits its turn first.
    spacing 0: leave it as it is."""
    if spacing <= 0:
        return
    pacer = SpawnPacer(spacing)
    configured = c.Spawner.server_token_scopes if "server_token_scopes" in c.Spawner else None

    async def paced_server_token_scopes(spawner):
        await pacer.turn()
        if callable(configured):
            found = configured(spawner)
            return await found if asyncio.iscoroutine(found) else found
        return configured  # None or empty: JupyterHub's `server` role, as without pacing

    c.Spawner.server_token_scopes = paced_server_token_scopes
