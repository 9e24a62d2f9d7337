"""One user server's (or batch job's) CPU and memory use and limits, from Docker's answers.

Pure: reads a container's inspect document and one `docker stats` sample, the way `docker stats`
computes them (memory without the page cache the kernel can drop), so it is tested without Docker.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..names import LABEL_ENVIRONMENT, LABEL_KIND, LABEL_ROLE, LABEL_SERVER_NAME, LABEL_USER

LABEL_NAMES = ("user", "server", "role", "environment", "kind")


@dataclass(frozen=True)
class ServerUsage:
    user: str
    server: str
    role: str
    environment: str
    kind: str  # "server" or "job"
    cpu_seconds: float  # CPU time used since the container started (a counter)
    memory_bytes: int
    cpu_limit: float | None  # cores; None: no limit
    memory_limit: int | None  # bytes; None: no limit

    @property
    def label_values(self) -> list[str]:
        return [self.user, self.server, self.role, self.environment, self.kind]


def memory_in_use(memory_stats: dict) -> int:
    """Usage minus the inactive file cache, as `docker stats` shows (cgroup v2 and v1 keys)."""
    usage = int(memory_stats.get("usage") or 0)
    stats = memory_stats.get("stats") or {}
    cache = stats.get("inactive_file", stats.get("total_inactive_file", 0)) or 0
    return max(usage - int(cache), 0)


def server_usage(container: dict, stats: dict) -> ServerUsage | None:
    """The usage of a container the platform started for a user; None for any other container."""
    labels = (container.get("Config") or {}).get("Labels") or {}
    user = labels.get(LABEL_USER)
    if not user:
        return None
    host = container.get("HostConfig") or {}
    nano_cpus = host.get("NanoCpus") or 0
    memory_limit = host.get("Memory") or 0
    cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    return ServerUsage(
        user=user, server=labels.get(LABEL_SERVER_NAME, ""), role=labels.get(LABEL_ROLE, ""),
        environment=labels.get(LABEL_ENVIRONMENT, ""), kind=labels.get(LABEL_KIND) or "server",
        cpu_seconds=cpu / 1e9, memory_bytes=memory_in_use(stats.get("memory_stats") or {}),
        cpu_limit=nano_cpus / 1e9 if nano_cpus else None, memory_limit=int(memory_limit) or None,
    )
