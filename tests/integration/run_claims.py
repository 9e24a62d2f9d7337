"""Which test stacks on this machine belong to a pytest that is still running.

A run that is killed (a CI limit, a machine that stops, a copy of a machine taken while a run was going) leaves
its stacks on the swarm: their hub, Airflow, MLflow and user servers keep their CPU and memory reservations, so
the next run's spawns are refused or starve. Each run records the stacks it deploys here with its pid and the
machine's boot id; a record whose pytest is gone names a stack to remove. Stacks of runs still going are left
alone (a second checkout may run beside this one under another MLOPS_TEST_STACK).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

RUNS_DIR = Path(os.environ.get("MLOPS_TEST_RUNS_DIR", "/var/lib/mlops-hub/test-runs"))


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def pytest_alive(pid: int, boot: str) -> bool:
    """The pid still runs pytest on this boot (a pid is reused after a restart, or by another program)."""
    if boot != boot_id():
        return False
    try:
        return b"pytest" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def claim(stack: str, runs_dir: Path = RUNS_DIR, alive: Callable[[int, str], bool] = pytest_alive,
          me: tuple[int, str] | None = None) -> list[str]:
    """Record this run as the owner of `stack`; return the stacks whose runs are gone, oldest record first.

    The caller removes those stacks, then calls `release` for each."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stale = []
    for record in sorted(runs_dir.iterdir(), key=lambda path: path.stat().st_mtime):
        if record.name == stack:
            continue  # ours: the caller removes its own stack's leftovers anyway
        try:
            pid, boot = record.read_text().split()
            gone = not alive(int(pid), boot)
        except ValueError:
            gone = True  # a record cut short by the kill itself
        if gone:
            stale.append(record.name)
    pid, boot = me or (os.getpid(), boot_id())
    (runs_dir / stack).write_text(f"{pid} {boot}\n")
    return stale


def release(stack: str, runs_dir: Path = RUNS_DIR) -> None:
    """The stack is removed (or kept on purpose): no later run should take it for a leftover."""
    (runs_dir / stack).unlink(missing_ok=True)
