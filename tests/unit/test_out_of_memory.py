"""Out of memory told apart from other kills, over real task / container dicts, and what users read.

The fixtures were captured by bench/min_memory.py --fixtures on the real swarm: a lab server
OOM-killed at too small a limit, and one killed with SIGKILL (exit code 137 as well).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from docker.errors import NotFound
from tornado import web

from mlops_hub.policy.environments import Environment
from mlops_hub.policy.units import DEFAULT_ENV_MIN_MEM as DEFAULT_MIN_MEM
from mlops_hub.policy.units import format_memory
from mlops_hub.swarm.oom import poll_log_line, start_failure_message
from mlops_hub.swarm.tasks import (
    EXIT_KILLED,
    MemoryVerdict,
    memory_verdict,
    out_of_memory_message,
    suggested_memory,
    task_end,
    task_mem_limit,
)

from .fakes import MiB
from .test_spawner import FakeDocker, make_spawner, offline, owning_service_1, start_object

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def oom() -> tuple[dict, dict]:
    return fixture("task-oom"), fixture("container-oom")


@pytest.fixture
def sigkill() -> tuple[dict, dict]:
    return fixture("task-sigkill"), fixture("container-sigkill")


# ---- the fixtures are what the verdict relies on -----------------------------------------


def test_fixtures_are_real_ended_tasks_with_exit_code_137(oom, sigkill):
    for task, container in (oom, sigkill):
        assert task["Status"]["State"] == "failed"
        assert task["Status"]["ContainerStatus"]["ExitCode"] == EXIT_KILLED
        assert task["Status"]["ContainerStatus"]["ContainerID"] == container["Id"]
    # Swarm's own words are the same for both: only the container can tell them apart
    assert oom[0]["Status"]["Err"] == sigkill[0]["Status"]["Err"] == "task: non-zero exit (137)"
    assert oom[1]["State"]["OOMKilled"] is True and sigkill[1]["State"]["OOMKilled"] is False


# ---- memory_verdict: exit code 137 AND OOMKilled -----------------------------------------


def test_killed_with_oomkilled_is_out_of_memory(oom):
    end = memory_verdict(*oom)
    assert end.verdict is MemoryVerdict.OUT_OF_MEMORY
    assert end.exit_code == 137
    assert end.mem_limit == oom[0]["Spec"]["Resources"]["Limits"]["MemoryBytes"]
    assert end.container_id == oom[1]["Id"]


def test_sigkill_without_oomkilled_is_not_out_of_memory(sigkill):
    assert memory_verdict(*sigkill).verdict is MemoryVerdict.NOT_OUT_OF_MEMORY


def test_killed_whose_container_is_gone_cannot_be_told(oom):
    end = memory_verdict(oom[0], None)
    assert end.verdict is MemoryVerdict.UNKNOWN
    assert end.exit_code == 137


@pytest.mark.parametrize("exit_code", [0, 1, 143])
def test_oomkilled_container_that_exited_otherwise_is_not_out_of_memory(oom, exit_code):
    # Docker sets OOMKilled when any process (a kernel) was OOM-killed; the server lived on
    task, container = copy.deepcopy(oom)
    task["Status"]["ContainerStatus"]["ExitCode"] = exit_code
    assert memory_verdict(task, container).verdict is MemoryVerdict.NOT_OUT_OF_MEMORY


def test_running_task_is_not_out_of_memory(oom):
    task, container = copy.deepcopy(oom)
    task["Status"] = {"State": "running", "ContainerStatus": {"ContainerID": container["Id"]}}
    end = memory_verdict(task, container)
    assert end.verdict is MemoryVerdict.NOT_OUT_OF_MEMORY and end.exit_code is None


def test_task_without_a_memory_limit_has_none(oom):
    task = copy.deepcopy(oom[0])
    del task["Spec"]["Resources"]["Limits"]
    assert task_mem_limit(task) is None


# ---- task_end: fetches the container only for 137, survives its absence -----------------


async def test_task_end_inspects_the_tasks_container(oom):
    asked = []

    async def inspect(container_id):
        asked.append(container_id)
        return oom[1]

    end = await task_end(inspect, oom[0])
    assert end.verdict is MemoryVerdict.OUT_OF_MEMORY
    assert asked == [oom[0]["Status"]["ContainerStatus"]["ContainerID"]]


async def test_task_end_of_a_removed_container_says_it_cannot_tell(oom):
    async def gone(container_id):
        raise NotFound(f"No such container: {container_id}")

    assert (await task_end(gone, oom[0])).verdict is MemoryVerdict.UNKNOWN


async def test_task_end_does_not_inspect_for_other_exit_codes(oom):
    task = copy.deepcopy(oom[0])
    task["Status"]["ContainerStatus"]["ExitCode"] = 1

    async def inspect(container_id):
        raise AssertionError("inspected a container although the exit code rules out OOM")

    assert (await task_end(inspect, task)).verdict is MemoryVerdict.NOT_OUT_OF_MEMORY


# ---- what users and admins read ----------------------------------------------------------


def test_message_names_the_limit_and_the_minimum():
    assert out_of_memory_message(128 * MiB, 512 * MiB) == (
        "Your server ran out of memory at 128M; choose at least 512M.")


def test_start_failure_message_for_each_verdict(oom, sigkill):
    limit = format_memory(oom[0]["Spec"]["Resources"]["Limits"]["MemoryBytes"])
    swarm = "Your server's container failed: task: non-zero exit (137)"
    assert start_failure_message(memory_verdict(*oom), swarm, 640 * MiB) == (
        f"Your server ran out of memory at {limit}; choose at least 640M.")
    assert start_failure_message(memory_verdict(*sigkill), swarm, 640 * MiB) is None
    assert start_failure_message(None, swarm, 640 * MiB) is None
    unknown = start_failure_message(memory_verdict(oom[0], None), swarm, 640 * MiB)
    assert unknown.startswith(swarm + "\n") and "cannot be told" in unknown and limit in unknown


def test_poll_log_line_names_user_limit_and_minimum(oom, sigkill):
    limit = format_memory(oom[0]["Spec"]["Resources"]["Limits"]["MemoryBytes"])
    line = poll_log_line(memory_verdict(*oom), "alice", 512 * MiB)
    assert line == (f"server of user alice ran out of memory (OOM-killed) at {limit};"
                    " the environment's minimum is 512M")
    assert poll_log_line(memory_verdict(*sigkill), "alice", 512 * MiB) is None
    assert "cannot be told" in poll_log_line(memory_verdict(oom[0], None), "alice", 512 * MiB)


# ---- the environment's minimum -----------------------------------------------------------


def test_environment_min_mem_is_its_own_or_the_measured_default():
    assert Environment("python", "Python", "lab").min_mem == DEFAULT_MIN_MEM
    assert Environment("big", "Big", "lab", min_mem=3 * 1024**3).min_mem == 3 * 1024**3


def test_the_suggestion_is_the_minimum_or_more_than_what_failed():
    assert suggested_memory(128 * MiB, 512 * MiB) == 512 * MiB
    assert suggested_memory(512 * MiB, 512 * MiB) == 1024 * MiB  # the minimum itself was too small


# ---- the spawner: a start that OOMs fails with the message; poll logs a later OOM --------


class DockerWithContainers(FakeDocker):
    """FakeDocker that also answers `inspect_container` (NotFound for unknown containers)."""

    def __init__(self, containers: dict[str, dict], **kwargs):
        super().__init__(**kwargs)
        self.containers = containers

    async def __call__(self, method, *args, **kwargs):
        if method == "inspect_container":
            self.calls.append((method, args, kwargs))
            if args[0] not in self.containers:
                raise NotFound(f"No such container: {args[0]}")
            return self.containers[args[0]]
        return await super().__call__(method, *args, **kwargs)


async def test_start_that_runs_out_of_memory_fails_with_the_message(oom):
    task, container = oom
    spawner = make_spawner(readiness_poll_interval=0.001)
    request = spawner.apply_request({"environment": "python", "mem_limit": "512M"})
    docker = DockerWithContainers({container["Id"]: container}, tasks=[task], logs=[b"Killed\n"])
    offline(spawner, docker)
    spawner.object_id = "service-1"
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    limit = format_memory(task["Spec"]["Resources"]["Limits"]["MemoryBytes"])
    expected = f"Your server ran out of memory at {limit}; choose at least {format_memory(DEFAULT_MIN_MEM)}."
    assert request.environment.min_mem == DEFAULT_MIN_MEM  # the measured default applies
    assert info.value.status_code == 500
    assert info.value.log_message == expected
    assert spawner._events[-1] == {"progress": 100, "message": expected}
    assert docker.called("remove_service") == [(("service-1",), {})]


async def test_start_killed_otherwise_keeps_swarms_reason_and_log_tail(sigkill):
    task, container = sigkill
    spawner = make_spawner(readiness_poll_interval=0.001)
    spawner.apply_request({"environment": "python"})
    docker = DockerWithContainers({container["Id"]: container}, tasks=[task], logs=[b"bye\n"])
    offline(spawner, docker)
    with pytest.raises(web.HTTPError) as info:
        await start_object(spawner)
    assert info.value.log_message == (
        "Your server's container failed: task: non-zero exit (137)\nLast log lines:\nbye")


def with_one_service(spawner, task: dict, container: dict) -> DockerWithContainers:
    """The spawner offline, its service `service-1` with this one task and its container."""
    docker = DockerWithContainers({container["Id"]: container}, tasks=[task])
    offline(spawner, docker)
    owning_service_1(spawner)
    return docker


async def test_poll_logs_a_later_oom_once_with_user_limit_and_minimum(oom, caplog):
    task, container = oom
    spawner = make_spawner(readiness_poll_interval=0.001)
    spawner.user_options = {"environment": "python", "mem_limit": "1G"}  # saved by the spawn
    with_one_service(spawner, task, container)
    caplog.set_level("WARNING")
    assert await spawner.poll() is not None
    assert await spawner.poll() is not None
    limit = format_memory(task["Spec"]["Resources"]["Limits"]["MemoryBytes"])
    lines = [r.getMessage() for r in caplog.records if "ran out of memory" in r.getMessage()]
    assert len(lines) == 1, lines
    assert f"server of user {spawner.user.name} ran out of memory (OOM-killed) at {limit}" in lines[0]
    assert f"the environment's minimum is {format_memory(DEFAULT_MIN_MEM)}" in lines[0]


async def test_poll_of_a_running_server_does_not_inspect_containers(oom):
    task, container = copy.deepcopy(oom)
    task["Status"] = {"State": "running", "ContainerStatus": {"ContainerID": container["Id"]}}
    task["DesiredState"] = "running"  # the recorded task was given up after its kill; this one runs on
    spawner = make_spawner()
    docker = with_one_service(spawner, task, container)
    assert await spawner.poll() is None
    assert docker.called("inspect_container") == []


async def test_a_server_poll_finds_ended_is_removed_and_frees_its_pool_room(oom):
    """JupyterHub does not call stop() for a server poll() found dead: poll cleans up itself, or the
    team pool would count the dead server until its owner spawned again."""
    from mlops_hub.policy.pools import Charge, TeamPool
    from mlops_hub.quotas.service import quota_service

    task, container = oom
    spawner = make_spawner(quota_store=True)
    service = quota_service()
    service.reset()

    async def nothing_running():
        return []

    await service.admit(Charge(spawner.user.name, "", "default", 1, 1024**3), TeamPool("default", servers=5),
                        nothing_running)
    assert service.usage()["default"].servers == 1
    docker = with_one_service(spawner, task, container)
    assert await spawner.poll() is not None
    assert docker.called("remove_service") == [(("service-1",), {})]
    assert "default" not in service.usage()  # the pool room is free again
    service.reset()
