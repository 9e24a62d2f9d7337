"""Reading Swarm task states, and waiting for a server's task with fail-fast on errors."""

import asyncio
from types import SimpleNamespace

import pytest

from mlops_hub.swarm import tasks as tasks_module
from mlops_hub.swarm.tasks import (
    Phase,
    ServerStartFailed,
    TaskView,
    classify_task,
    newest_task,
    wait_for_task_running,
)

from .fakes import task

INSUFFICIENT = "no suitable node (insufficient resources on 1 node)"
CONSTRAINTS = "no suitable node (scheduling constraints not satisfied on 3 nodes)"


# ---- classify_task -----------------------------------------------------------------------


def test_running_task_is_running():
    view = classify_task(task("running", message="started", container="c0ffee"))
    assert view.phase is Phase.RUNNING
    assert view.state == "running"
    assert view.container_id == "c0ffee"
    assert view.node_id == "node-1"


@pytest.mark.parametrize("err", [INSUFFICIENT, CONSTRAINTS, "No Suitable Node (insufficient resources on 2 nodes)"])
def test_pending_task_that_no_node_can_take_is_unschedulable(err):
    view = classify_task(task("pending", err=err, message="pending task scheduling"))
    assert view.phase is Phase.UNSCHEDULABLE
    assert view.reason == err


def test_pending_task_without_scheduling_error_is_waiting():
    view = classify_task(task("pending", message="pending task scheduling"))
    assert view.phase is Phase.WAITING
    assert view.reason == "pending task scheduling"


@pytest.mark.parametrize("state, phase", [
    ("new", Phase.WAITING), ("allocated", Phase.WAITING),
    ("assigned", Phase.SCHEDULED), ("accepted", Phase.SCHEDULED),
    ("preparing", Phase.STARTING), ("ready", Phase.STARTING), ("starting", Phase.STARTING),
    ("RUNNING", Phase.RUNNING),
])
def test_lifecycle_states_map_to_phases(state, phase):
    assert classify_task(task(state)).phase is phase


def test_rejected_task_fails_with_swarms_error():
    err = "No such image: mlops-hub/lab-torch:2.4"
    view = classify_task(task("rejected", err=err, message="preparing"))
    assert view.phase is Phase.FAILED
    assert view.reason == err


def test_failed_task_reason_adds_the_exit_code():
    view = classify_task(task("failed", err="task failed", message="started", exit_code=137))
    assert view.phase is Phase.FAILED
    assert view.reason == "task failed (exit code 137)"


def test_exit_code_is_not_repeated_when_swarm_already_says_exit():
    view = classify_task(task("failed", err="task: non-zero exit (1)", exit_code=1))
    assert view.reason == "task: non-zero exit (1)"


def test_ended_task_without_error_text_still_has_a_reason():
    assert classify_task(task("complete", exit_code=0)).reason == "task complete"
    assert classify_task(task("shutdown")).reason == "task shutdown"
    assert classify_task(task("failed", exit_code=2)).reason == "(exit code 2)"


@pytest.mark.parametrize("state", ["complete", "shutdown", "failed", "rejected", "orphaned", "remove"])
def test_ended_states_are_failures(state):
    assert classify_task(task(state)).phase is Phase.FAILED


def test_task_without_status_is_waiting():
    view = classify_task({})
    assert (view.state, view.phase, view.reason, view.addresses) == ("new", Phase.WAITING, "", ())


def test_addresses_come_from_networks_attachments_without_prefix_length():
    view = classify_task(task("running", networks=[("ingress", "10.0.0.7/24"), ("mlops-hub", "10.0.1.5/24")]))
    assert view.addresses == (("ingress", "10.0.0.7"), ("mlops-hub", "10.0.1.5"))
    assert view.address_on("mlops-hub") == "10.0.1.5"
    assert view.address_on("other") is None


# ---- newest_task -------------------------------------------------------------------------


def test_newest_task_is_the_one_with_the_highest_version():
    old, new = task("failed", index=10), task("running", index=42)
    assert newest_task([new, old]) is new
    assert newest_task([old, new]) is new


def test_newest_task_of_no_tasks_is_none():
    assert newest_task([]) is None


# ---- wait_for_task_running ---------------------------------------------------------------


class FakeSwarm:
    """list_tasks() answers with one scripted task list per call, then repeats the last one."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    async def list_tasks(self):
        self.calls += 1
        index = min(self.calls, len(self.answers)) - 1
        return self.answers[index]


def wait(list_tasks, on_phase, **kwargs):
    """wait_for_task_running, failing instead of hanging if the loop never ends (not a timing check)."""
    return asyncio.wait_for(wait_for_task_running(list_tasks, on_phase, **kwargs), timeout=10)


class Phases(list):
    def __call__(self, view: TaskView) -> None:
        self.append(view.phase)


async def test_wait_returns_the_running_task_and_reports_each_phase_once():
    swarm = FakeSwarm([], [task("pending")], [task("assigned")], [task("assigned")], [task("preparing")],
                      [task("running", networks=[("mlops-hub", "10.0.1.5/24")])])
    phases = Phases()
    view = await wait(swarm.list_tasks, phases, poll_interval=0.001)
    assert view.phase is Phase.RUNNING
    assert view.address_on("mlops-hub") == "10.0.1.5"
    assert phases == [Phase.WAITING, Phase.SCHEDULED, Phase.STARTING, Phase.RUNNING]
    assert swarm.calls == 6


async def test_wait_fails_at_once_on_a_rejected_task_with_swarms_error():
    swarm = FakeSwarm([task("pending")], [task("rejected", err="No such image: mlops-hub/lab-x:1")])
    with pytest.raises(ServerStartFailed) as info:
        await wait(swarm.list_tasks, Phases(), unschedulable_grace=60, poll_interval=0.001)
    assert str(info.value) == "Your server's container rejected: No such image: mlops-hub/lab-x:1"
    assert swarm.calls == 2  # no more polling after the failure


async def test_wait_fails_at_once_on_a_crashed_container_with_exit_code():
    swarm = FakeSwarm([task("failed", err="task: non-zero exit (1)", exit_code=1)])
    with pytest.raises(ServerStartFailed, match=r"container failed: task: non-zero exit \(1\)"):
        await wait(swarm.list_tasks, Phases(), unschedulable_grace=60, poll_interval=0.001)
    assert swarm.calls == 1


async def test_wait_uses_the_newest_task():
    swarm = FakeSwarm([task("failed", err="old crash", index=1), task("running", index=2)])
    view = await wait(swarm.list_tasks, Phases(), poll_interval=0.001)
    assert view.phase is Phase.RUNNING


async def test_unschedulable_task_fails_after_the_grace_with_swarms_reason():
    swarm = FakeSwarm([task("pending", err=INSUFFICIENT)])
    phases = Phases()
    with pytest.raises(ServerStartFailed) as info:
        await wait(swarm.list_tasks, phases, unschedulable_grace=0.2, poll_interval=0.01)
    message = str(info.value)
    assert message.startswith(f"Docker Swarm cannot place your server: {INSUFFICIENT}.")
    assert "Ask for fewer CPUs or less memory" in message
    assert phases == [Phase.UNSCHEDULABLE]
    assert swarm.calls > 1  # it waited and looked again before giving up


async def test_unschedulable_task_that_gets_scheduled_within_the_grace_runs():
    swarm = FakeSwarm([task("pending", err=INSUFFICIENT)], [task("pending", err=INSUFFICIENT)],
                      [task("assigned")], [task("running")])
    phases = Phases()
    view = await wait(swarm.list_tasks, phases, unschedulable_grace=0.2, poll_interval=0.01)
    assert view.phase is Phase.RUNNING
    assert phases == [Phase.UNSCHEDULABLE, Phase.SCHEDULED, Phase.RUNNING]


async def test_grace_restarts_when_a_task_becomes_unschedulable_again(monkeypatch):
    # a fake clock that advances 0.1 s per poll, so the test depends on no real timing
    swarm = FakeSwarm([task("pending", err=INSUFFICIENT)], [task("pending", err=INSUFFICIENT)],
                      [task("pending")],
                      [task("pending", err=INSUFFICIENT)], [task("pending", err=INSUFFICIENT)],
                      [task("running")])
    monkeypatch.setattr(tasks_module, "time", SimpleNamespace(monotonic=lambda: swarm.calls * 0.1))
    view = await wait(swarm.list_tasks, Phases(), unschedulable_grace=0.25, poll_interval=0)
    assert view.phase is Phase.RUNNING  # 0.4 s unschedulable in all, but never 0.25 s in a row


async def test_unschedulable_time_adds_up_while_the_task_stays_unschedulable(monkeypatch):
    swarm = FakeSwarm(*[[task("pending", err=INSUFFICIENT)]] * 4, [task("running")])
    monkeypatch.setattr(tasks_module, "time", SimpleNamespace(monotonic=lambda: swarm.calls * 0.1))
    with pytest.raises(ServerStartFailed, match="cannot place your server"):
        await wait(swarm.list_tasks, Phases(), unschedulable_grace=0.25, poll_interval=0)
    assert swarm.calls == 4  # the 4th poll is 0.3 s after the first
