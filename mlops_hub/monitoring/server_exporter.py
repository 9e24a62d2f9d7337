"""The server exporter: each user server's and batch job's CPU and memory use against its limits.

One per node (a global service of the stack; cAdvisor is not available here): it asks the node's
Docker for the containers labelled as this hub's (`mlops-hub.prefix`) and serves, on every scrape,

  mlops_server_cpu_seconds_total, mlops_server_memory_bytes,
  mlops_server_cpu_limit_cores, mlops_server_memory_limit_bytes

labelled user, server, role, environment, kind (server or job).
Run: python -m mlops_hub.monitoring.server_exporter (MLOPS_HUB_PREFIX, MLOPS_SERVER_EXPORTER_PORT).
"""

from __future__ import annotations

import os
import sys
import time

import docker
from docker.errors import APIError, NotFound
from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

from ..names import LABEL_PREFIX_KEY
from .server_usage import LABEL_NAMES, ServerUsage, server_usage


def families(usages: list[ServerUsage]) -> list:
    cpu = CounterMetricFamily("mlops_server_cpu_seconds", "CPU time a user server or job used", labels=LABEL_NAMES)
    mem = GaugeMetricFamily("mlops_server_memory_bytes", "Memory a user server or job uses (without the"
                            " page cache the kernel can drop)", labels=LABEL_NAMES)
    cpu_limit = GaugeMetricFamily("mlops_server_cpu_limit_cores", "A user server's or job's CPU limit",
                                  labels=LABEL_NAMES)
    mem_limit = GaugeMetricFamily("mlops_server_memory_limit_bytes", "A user server's or job's memory limit",
                                  labels=LABEL_NAMES)
    for usage in usages:
        cpu.add_metric(usage.label_values, usage.cpu_seconds)
        mem.add_metric(usage.label_values, usage.memory_bytes)
        if usage.cpu_limit is not None:
            cpu_limit.add_metric(usage.label_values, usage.cpu_limit)
        if usage.memory_limit is not None:
            mem_limit.add_metric(usage.label_values, usage.memory_limit)
    return [cpu, mem, cpu_limit, mem_limit]


class ServerUsageCollector:
    def __init__(self, client: docker.APIClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def usages(self) -> list[ServerUsage]:
        found = []
        for summary in self.client.containers(filters={"label": f"{LABEL_PREFIX_KEY}={self.prefix}"}):
            try:
                container = self.client.inspect_container(summary["Id"])
                # one sample, not two a second apart: CPU is exported as a counter Prometheus rates
                stats = self.client.stats(summary["Id"], stream=False, one_shot=True)
            except (NotFound, APIError):
                continue  # it stopped between the listing and the question
            usage = server_usage(container, stats)
            if usage is not None:
                found.append(usage)
        return found

    def collect(self):
        yield from families(self.usages())

    def describe(self):
        return []


def main() -> None:
    prefix = os.environ.get("MLOPS_HUB_PREFIX", "mlops-lab")
    port = int(os.environ.get("MLOPS_SERVER_EXPORTER_PORT", "9101"))
    REGISTRY.register(ServerUsageCollector(docker.APIClient(version="auto"), prefix))
    start_http_server(port)
    print(f"[mlops-hub] server exporter for the servers of {prefix} on port {port}", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
