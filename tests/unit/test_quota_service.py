"""Pool admission in one process: atomic under concurrency, released on failure/stop, rebuilt."""

import asyncio

import pytest

from mlops_hub.policy.pools import Charge, PoolRefusal, TeamPool, Usage
from mlops_hub.quotas.service import QuotaService
from mlops_hub.spawner import charges_of
from mlops_hub.swarm.labels import ServerLabels

GiB = 1024**3


async def test_concurrent_admissions_never_overcommit_the_pool():
    service = QuotaService()
    loads = []

    async def load_running():
        loads.append(1)
        await asyncio.sleep(0.01)  # a slow Docker call: others queue behind the lock meanwhile
        return [Charge("old", "", "team", 1, GiB)]

    pool = TeamPool("team", cpu=5, servers=10)

    async def spawn(i):
        await asyncio.sleep(0)
        return await service.admit(Charge(f"u{i}", "", "team", 1, GiB), pool, load_running)

    results = await asyncio.gather(*(spawn(i) for i in range(20)), return_exceptions=True)
    admitted = [r for r in results if isinstance(r, Charge)]
    refused = [r for r in results if isinstance(r, PoolRefusal)]
    assert (len(admitted), len(refused)) == (4, 16)  # 1 already running + 4 = 5 CPUs
    assert str(refused[0]).startswith("Team team uses 5 of 5 CPUs; you asked for 1.")
    assert service.usage()["team"] == Usage(5.0, 5 * GiB, 5)
    assert loads == [1]  # usage rebuilt once, not per spawn


async def test_release_frees_room_and_restart_of_same_server_replaces_its_charge():
    service = QuotaService()
    pool = TeamPool("team", servers=1)

    async def nothing():
        return []

    await service.admit(Charge("a", "", "team", 1, GiB), pool, nothing)
    with pytest.raises(PoolRefusal):
        await service.admit(Charge("b", "", "team", 1, GiB), pool, nothing)
    # the same server started again (its old charge is stale) is not counted twice
    await service.admit(Charge("a", "", "team", 2, GiB), pool, nothing)
    assert service.release("a", "").cpu == 2
    assert service.release("a", "") is None
    await service.admit(Charge("b", "", "team", 1, GiB), pool, nothing)


def test_charges_rebuilt_from_service_labels_and_old_services_from_limits():
    services = [
        {"Spec": {"Labels": {"mlops-hub.user": "a", "mlops-hub.server-name": "", "mlops-hub.role": "t",
                             "mlops-hub.cpu": "1.5", "mlops-hub.mem": str(2 * GiB),
                             "mlops-hub.environment": "python"}}},
        {"Spec": {"Labels": {"mlops-hub.user": "b", "mlops-hub.server-name": "x", "mlops-hub.role": "t"},
                  "TaskTemplate": {"Resources": {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": GiB}}}}},
        {"Spec": {"Labels": {"mlops-hub.user": "c"}}},  # no role: plain SwarmSpawner server
    ]
    found = [s for s in map(ServerLabels.from_service, services) if s is not None]
    assert charges_of(found) == [Charge("a", "", "t", 1.5, 2 * GiB, "python"),
                                               Charge("b", "x", "t", 0.5, GiB, "")]


def test_labels_written_are_the_labels_read():
    written = ServerLabels("lab", "иван", "gpu", environment="python", role="аналитики", cpu=1.25, mem=3 * GiB)
    service = {"Spec": {"Labels": written.as_labels()}}
    assert ServerLabels.from_service(service) == written


async def test_running_jobs_count_against_the_pool_fresh_at_each_admission_and_check_reserves_nothing():
    service = QuotaService()
    pool = TeamPool("team", cpu=2, servers=3)
    jobs: list[Charge] = []

    async def nothing():
        return []

    async def load_jobs():
        return list(jobs)

    await service.admit(Charge("a", "", "team", 1, GiB), pool, nothing, load_jobs=load_jobs)
    jobs.append(Charge("b", "job:nb__b", "team", 1, GiB))  # Airflow started a job since
    with pytest.raises(PoolRefusal, match="Team team uses 2 of 2 CPUs"):
        await service.admit(Charge("c", "", "team", 0.5, GiB), pool, nothing, load_jobs=load_jobs)
    with pytest.raises(PoolRefusal, match="you asked for 0.5"):
        await service.check(Charge("b", "job:nb__b", "team", 0.5, GiB), pool, nothing, "us", load_jobs)
    jobs.clear()  # the job ended: its service is gone, and so is its charge
    await service.check(Charge("b", "job:nb__b", "team", 1, GiB), pool, nothing, "us", load_jobs)
    assert service.usage()["team"] == Usage(1.0, GiB, 1)  # check() reserved nothing


def test_job_services_are_not_servers_but_carry_the_same_labels():
    from mlops_hub.swarm.labels import _is_job, job_labels

    labels = job_labels(ServerLabels("p", "alice", "job:nb__x", "python", "team", 0.5, GiB))
    service = {"Spec": {"Labels": labels}}
    assert _is_job(service)
    assert ServerLabels.from_service(service) == ServerLabels("p", "alice", "job:nb__x", "python", "team", 0.5, GiB)


async def test_an_unlimited_pool_admits_without_reading_running_jobs():
    service = QuotaService()
    reads: list[str] = []

    async def nothing():
        return []

    async def load_jobs():
        reads.append("jobs")
        return []

    charge = await service.admit(Charge("a", "", "team", 1, GiB), TeamPool("team"), nothing, load_jobs=load_jobs)
    assert charge.user == "a" and service.usage()["team"] == Usage(1.0, GiB, 1)  # still counted
    assert reads == []  # no Docker call inside the lock every spawn shares


async def test_a_served_model_is_one_claim_of_all_its_replicas_and_never_a_server():
    from mlops_hub.policy.model_release import RoleRoom, model_service, parse_release
    from mlops_hub.swarm.labels import running_models, running_servers

    request = parse_release({"model": "churn@champion", "replicas": 3, "cpu": 0.5, "mem": "512M"},
                            RoleRoom("team", 1, GiB, pool_role="team"))
    spec = model_service(request, "4", "run-1", "img", "alice", "net", {"mlops-hub.prefix": "p"})
    service = {"Spec": {"Name": spec.name, "Labels": spec.labels, "Mode": {"Replicated": {"Replicas": 3}},
                        "TaskTemplate": {"Resources": {"Limits": {"NanoCPUs": 500_000_000,
                                                                  "MemoryBytes": GiB // 2}}}}}
    unpooled = {"Spec": {**service["Spec"], "Labels": {k: v for k, v in spec.labels.items()
                                                       if k != "mlops-hub.role"}}}

    async def docker_call(method, filters):
        assert method == "services" and "mlops-hub.prefix=p" in filters["label"]
        wanted = dict(label.split("=", 1) for label in filters["label"])
        return [s for s in (service, unpooled)
                if all(s["Spec"]["Labels"].get(k) == v for k, v in wanted.items())]

    assert await running_servers(docker_call, "p") == []  # the culler and the server pages never see it
    claims = charges_of(await running_models(docker_call, "p"))
    assert claims == [Charge("alice", "model:churn", "team", 1.5, 3 * GiB // 2, "")]
