"""The server exporter's reading of Docker's answers: a user server's CPU time, memory without the
droppable page cache (as `docker stats` shows it, cgroup v1 and v2), and its limits; other containers
are not reported."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from mlops_hub.monitoring.server_exporter import ServerUsageCollector
from mlops_hub.monitoring.server_usage import memory_in_use, server_usage

LABELS = {"mlops-hub.managed": "true", "mlops-hub.prefix": "lab", "mlops-hub.user": "ann",
          "mlops-hub.server-name": "", "mlops-hub.role": "analysts", "mlops-hub.environment": "python"}


def container(labels=LABELS, nano_cpus=1_500_000_000, memory=2**30) -> dict:
    return {"Id": "c1", "Config": {"Labels": labels}, "HostConfig": {"NanoCpus": nano_cpus, "Memory": memory}}


STATS_V1 = {"cpu_stats": {"cpu_usage": {"total_usage": 12_500_000_000}},
            "memory_stats": {"usage": 300 * 2**20, "stats": {"total_inactive_file": 100 * 2**20}}}
STATS_V2 = {"cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}},
            "memory_stats": {"usage": 300 * 2**20, "stats": {"inactive_file": 50 * 2**20}}}


def test_a_user_servers_use_and_limits():
    usage = server_usage(container(), STATS_V1)
    assert usage.label_values == ["ann", "", "analysts", "python", "server"]
    assert usage.cpu_seconds == 12.5
    assert usage.memory_bytes == 200 * 2**20
    assert (usage.cpu_limit, usage.memory_limit) == (1.5, 2**30)


def test_cgroup_v2_cache_and_a_job_without_limits():
    usage = server_usage(container({**LABELS, "mlops-hub.kind": "job"}, nano_cpus=0, memory=0), STATS_V2)
    assert usage.kind == "job" and usage.memory_bytes == 250 * 2**20
    assert usage.cpu_limit is None and usage.memory_limit is None


def test_memory_never_below_zero_and_a_stopped_containers_empty_stats():
    assert memory_in_use({"usage": 10, "stats": {"inactive_file": 20}}) == 0
    assert server_usage(container(), {}).memory_bytes == 0


def test_containers_without_a_user_are_not_reported():
    assert server_usage(container({"mlops-hub.prefix": "lab"}), STATS_V1) is None
    assert server_usage({"Config": {"Labels": None}}, STATS_V1) is None


class FakeDocker:
    """The three calls the collector makes, answering for one server and one unrelated container."""

    def __init__(self):
        self.filters = None

    def containers(self, filters):
        self.filters = filters
        return [{"Id": "c1"}, {"Id": "gone"}]

    def inspect_container(self, cid):
        if cid == "gone":
            from docker.errors import NotFound

            raise NotFound("stopped meanwhile")
        return container()

    def stats(self, cid, stream, one_shot):
        assert (stream, one_shot) == (False, True)
        return STATS_V1


def test_the_collector_asks_for_this_hubs_containers_and_exports_use_and_limits():
    docker = FakeDocker()
    registry = CollectorRegistry()
    registry.register(ServerUsageCollector(docker, "lab"))
    labels = {"user": "ann", "server": "", "role": "analysts", "environment": "python", "kind": "server"}
    assert registry.get_sample_value("mlops_server_cpu_seconds_total", labels) == 12.5
    assert registry.get_sample_value("mlops_server_memory_bytes", labels) == 200 * 2**20
    assert registry.get_sample_value("mlops_server_cpu_limit_cores", labels) == 1.5
    assert registry.get_sample_value("mlops_server_memory_limit_bytes", labels) == 2**30
    assert docker.filters == {"label": "mlops-hub.prefix=lab"}
