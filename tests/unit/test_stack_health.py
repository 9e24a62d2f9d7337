"""`up`'s wait and `status`'s tables: service states from task observations, the verdict, the display
and the formatting, all without Docker (mlops_hub.deploy.health, .progress, .status, .logs)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from mlops_hub.deploy.health import ServiceObs, ServiceState, State, TaskObs, assess, changed, verdict
from mlops_hub.deploy.logs import UnknownName, log_targets
from mlops_hub.deploy.progress import ChangeLines, LiveDisplay, failure_message, table_lines, wait_for_services
from mlops_hub.deploy.shell import DeployError
from mlops_hub.deploy.status import (
    PoolUse,
    age,
    nodes_table,
    pool_use,
    pools_table,
    servers_table,
    services_table,
)
from mlops_hub.deploy.swarmread import NodeView, ServerView, node_view, parse_time, spec_key
from mlops_hub.swarm.labels import ServerLabels

GiB = 1024**3
CRASH = TaskObs("failed", "shutdown", "task: non-zero exit (1)", exit_code=1)


def running(seconds=60.0, health=None) -> TaskObs:
    return TaskObs("running", running_for=seconds, health=health)


# ---------------------------------------------------------------- one service's state

def test_a_service_with_a_healthcheck_is_healthy_when_its_container_is():
    assert assess(ServiceObs("hub", 1, True, [running(1, "healthy")])).state is State.HEALTHY


def test_a_running_task_whose_container_is_still_starting_its_health_waits():
    s = assess(ServiceObs("hub", 1, True, [running(30, "starting")]))
    assert s.state is State.STARTING and s.summary == "starting: health: starting"


def test_a_task_swarm_still_calls_starting_shows_its_containers_health():
    assert assess(ServiceObs("hub", 1, True, [TaskObs("starting", health="starting")])).detail == "health: starting"
    assert assess(ServiceObs("proxy", 1, False, [TaskObs("starting")])).detail == "starting"


def test_a_running_task_with_a_healthcheck_on_another_node_counts_by_swarms_word():
    # Swarm reports such a task as running only once its container is healthy
    assert assess(ServiceObs("hub", 1, True, [running(1, None)])).state is State.HEALTHY


def test_a_service_without_a_healthcheck_counts_after_running_a_few_seconds():
    assert assess(ServiceObs("proxy", 1, False, [running(1)])).state is State.STARTING
    assert assess(ServiceObs("proxy", 1, False, [running(6)])).state is State.HEALTHY


def test_an_unhealthy_container_is_named_as_such():
    s = assess(ServiceObs("db", 1, True, [running(30, "unhealthy")]))
    assert s.state is State.UNHEALTHY and "health check failing" in s.summary


def test_a_task_still_being_prepared_says_its_swarm_state():
    s = assess(ServiceObs("mlflow", 1, True, [TaskObs("preparing")]))
    assert s.state is State.STARTING and s.detail == "preparing"


def test_restarts_are_counted_and_the_last_error_shown_while_below_the_limit():
    s = assess(ServiceObs("edge", 1, True, [CRASH, CRASH, TaskObs("starting", "running")]))
    assert s.state is State.STARTING and s.restarts == 2
    assert s.summary == "starting (2 restarts): starting; last: task: non-zero exit (1)"


def test_a_service_that_keeps_restarting_is_restarting_with_swarms_message():
    s = assess(ServiceObs("edge", 1, True, [CRASH, CRASH, CRASH, TaskObs("ready", "ready")]))
    assert s.state is State.RESTARTING and s.restarts == 3
    assert s.summary == "restarting (3 restarts): task: non-zero exit (1)"


def test_an_exit_code_swarm_does_not_mention_is_added():
    s = assess(ServiceObs("x", 1, False, [TaskObs("failed", "shutdown", "oom", exit_code=137)] * 3))
    assert s.detail == "oom (exit code 137)"


def test_a_healthy_service_keeps_its_restart_count():
    s = assess(ServiceObs("hub", 1, True, [CRASH, running(5, "healthy")]))
    assert s.state is State.HEALTHY and s.summary == "healthy (1 restart)"


def test_a_service_swarm_stopped_restarting_has_failed():
    rejected = TaskObs("rejected", "shutdown", "No such image: x:1")
    s = assess(ServiceObs("once", 1, False, [rejected], restart_condition="none"))
    assert s.state is State.FAILED and s.detail == "No such image: x:1"
    s = assess(ServiceObs("twice", 1, False, [rejected, rejected], max_attempts=2))
    assert s.state is State.FAILED and s.restarts == 2


def test_between_an_ended_task_and_its_replacement_the_service_is_restarting_not_failed():
    s = assess(ServiceObs("crasher", 1, False, [CRASH, CRASH]))
    assert s.state is State.STARTING and s.summary == "starting (2 restarts): restarting; last: task: non-zero exit (1)"
    assert assess(ServiceObs("crasher", 1, False, [CRASH] * 2, max_attempts=3)).state is State.STARTING


def test_a_task_no_node_can_take_says_so():
    pending = TaskObs("pending", message="no suitable node (insufficient resources on 1 node)")
    s = assess(ServiceObs("big", 1, False, [pending]))
    assert s.state is State.STARTING and s.detail.startswith("cannot be scheduled: no suitable node")


def test_replicas_all_have_to_be_up_and_a_replaced_task_is_no_restart():
    replaced = TaskObs("shutdown", "shutdown", "shutdown")
    assert assess(ServiceObs("w", 2, False, [replaced, running(), TaskObs("starting")])).state is State.STARTING
    s = assess(ServiceObs("w", 2, False, [replaced, running(), running()]))
    assert s.state is State.HEALTHY and s.restarts == 0


def test_a_task_of_the_earlier_version_does_not_count_while_the_update_runs():
    old = TaskObs("running", running_for=600, health="healthy", outdated=True)
    s = assess(ServiceObs("hub", 1, True, [old]))
    assert s.state is State.STARTING and s.detail == "updating: the earlier version still runs"
    s = assess(ServiceObs("hub", 1, True, [old, TaskObs("starting", health="starting")]))
    assert s.state is State.STARTING and s.detail == "health: starting"
    old_crashes = [TaskObs("failed", "shutdown", "exit", exit_code=1, outdated=True)] * 3
    assert assess(ServiceObs("hub", 1, True, [*old_crashes, running(5, "healthy")])).summary == "healthy"


@pytest.mark.parametrize("update", ["paused", "rollback_completed"])
def test_an_update_swarm_paused_or_rolled_back_has_failed_with_its_message(update):
    s = assess(ServiceObs("edge", 1, True, [running(5, "healthy")], update, "update paused due to failure"))
    assert s.state is State.FAILED
    assert s.detail == f"update {update.replace('_', ' ')}: update paused due to failure"


def test_scaled_to_zero_and_global_services():
    assert assess(ServiceObs("off", 0, False, [])).summary == "healthy: scaled to 0"
    assert assess(ServiceObs("agent", None, False, [running(), running()])).state is State.HEALTHY
    assert assess(ServiceObs("agent", None, False, [])).state is State.STARTING


# ---------------------------------------------------------------- the verdict and the wait

def test_done_only_when_every_service_is_healthy_and_failed_names_the_restarting():
    ok, wait = ServiceState("a", State.HEALTHY), ServiceState("b", State.STARTING)
    bad = ServiceState("c", State.RESTARTING, 3)
    assert verdict([ok]).done and not verdict([ok, wait]).done and not verdict([]).done
    v = verdict([ok, wait, bad])
    assert v.finished and v.failed == (bad,) and v.waiting == (wait, bad)


def test_changed_reports_each_new_summary_once():
    seen = {}
    first = [ServiceState("a", State.STARTING), ServiceState("b", State.STARTING)]
    assert changed(seen, first) == first
    assert changed(seen, first) == []
    assert changed(seen, [ServiceState("a", State.HEALTHY), first[1]]) == [ServiceState("a", State.HEALTHY)]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def scripted(*rounds):
    it = iter(rounds)
    last = []

    def observe():
        nonlocal last
        last = next(it, last)
        return last
    return observe


def test_the_wait_returns_once_all_are_healthy_and_logs_each_change_in_plain_lines():
    clock, out = Clock(), io.StringIO()
    observe = scripted([ServiceObs("db", 1, True, [TaskObs("starting")]), ServiceObs("hub", 1, True, [])],
                       [ServiceObs("db", 1, True, [running(3, "healthy")]), ServiceObs("hub", 1, True, [])],
                       [ServiceObs("db", 1, True, [running(5, "healthy")]),
                        ServiceObs("hub", 1, True, [running(1, "healthy")])])
    states = wait_for_services("s", observe, lambda name: "", budget=60, out=out, clock=clock, sleep=clock.sleep)
    assert [s.state for s in states] == [State.HEALTHY, State.HEALTHY]
    assert out.getvalue().splitlines() == ["[mlops-hub]    0s db: starting: starting",
                                           "[mlops-hub]    0s hub: starting: no task yet",
                                           "[mlops-hub]    2s db: healthy", "[mlops-hub]    4s hub: healthy"]


def test_a_service_that_keeps_restarting_stops_the_wait_with_its_last_log_lines():
    clock, asked = Clock(), []
    observe = scripted([ServiceObs("hub", 1, True, [running(1, "healthy")]),
                        ServiceObs("edge", 1, True, [CRASH] * 3 + [TaskObs("ready", "ready")])])

    def logs(service):
        asked.append(service)
        return "nginx: [emerg] bad config\nexiting"

    with pytest.raises(DeployError) as e:
        wait_for_services("s", observe, logs, budget=60, out=io.StringIO(), clock=clock, sleep=clock.sleep)
    assert asked == ["s_edge"]
    text = str(e.value)
    assert text.startswith("stack s: edge keeps failing")
    assert "  edge: restarting (3 restarts): task: non-zero exit (1)" in text
    assert "last log lines of s_edge:\n    nginx: [emerg] bad config\n    exiting" in text
    assert "mlops-hub logs SERVICE --stack s" in text
    assert clock.now == 0  # it did not wait for the budget


def test_the_budget_names_every_service_still_not_healthy():
    clock = Clock()
    observe = scripted([ServiceObs("db", 1, True, [running(1, "healthy")]),
                        ServiceObs("hub", 1, True, [running(1, "starting")]),
                        ServiceObs("mlflow", 1, True, [TaskObs("preparing")])])
    with pytest.raises(DeployError) as e:
        wait_for_services("s", observe, lambda n: f"{n} said hello", budget=10, out=io.StringIO(), clock=clock,
                          sleep=clock.sleep)
    text = str(e.value)
    assert text.splitlines()[0] == "stack s: not healthy after 10s: hub, mlflow"
    assert "  hub: starting: health: starting\n  last log lines of s_hub:\n    s_hub said hello" in text
    assert "s_db" not in text
    assert clock.now == 10


def test_the_terminal_display_redraws_its_lines_in_place():
    out = io.StringIO()
    display = LiveDisplay(out)
    states = [ServiceState("db", State.HEALTHY), ServiceState("hub", State.STARTING, 0, "health: starting")]
    display.show(states, 3, 600)
    first = out.getvalue()
    assert first == ("\x1b[2Kservices: 1 of 2 healthy (3s of 600s)\n\x1b[2K  ok db   healthy\n"
                     "\x1b[2K  .. hub  starting: health: starting\n")
    display.show(states, 5, 600)
    assert out.getvalue()[len(first):].startswith("\x1b[3F\x1b[2Kservices: 1 of 2 healthy (5s of 600s)")


def test_plain_lines_are_printed_for_changes_only():
    out = io.StringIO()
    lines = ChangeLines(out)
    states = [ServiceState("db", State.STARTING)]
    lines.show(states, 1, 600)
    lines.show(states, 3, 600)
    assert out.getvalue() == "[mlops-hub]    1s db: starting\n"


def test_the_table_aligns_names_and_marks_states():
    lines = table_lines([ServiceState("db", State.RESTARTING, 4, "exit 1"), ServiceState("mlflow", State.FAILED)],
                        12.4, 600)
    assert lines == ["services: 0 of 2 healthy (12s of 600s)", "  !! db      restarting (4 restarts): exit 1",
                     "  XX mlflow  failed"]


def test_a_service_without_log_lines_says_so():
    text = failure_message("s", [ServiceState("x", State.FAILED, 0, "gone")], lambda n: "", "why:")
    assert "last log lines of s_x:\n    (no log lines)" in text


# ---------------------------------------------------------------- status tables

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


def server(user, role="analysts", cpu=0.5, mem=GiB, minutes=5, running=True, name="") -> ServerView:
    return ServerView(f"s-lab-{user}", ServerLabels("s-lab", user, name, "python", role, cpu, mem),
                      NOW - dt.timedelta(minutes=minutes), running)


def test_services_table_has_state_restarts_and_detail():
    text = services_table([ServiceState("db", State.HEALTHY), ServiceState("edge", State.RESTARTING, 4, "exit 1")])
    assert text.splitlines() == ["SERVICE  STATE       RESTARTS  DETAIL", "db       healthy     0",
                                 "edge     restarting  4         exit 1"]
    assert "mlops-hub up" in services_table([])


def test_nodes_table():
    text = nodes_table([NodeView("vm", "manager", "active", "ready", 2.0, 25275990016)])
    assert text.splitlines() == [
        "NODE  ROLE     AVAILABILITY  STATE  CPUS  CPUS FREE  MEMORY  MEMORY FREE  LABELS",
        "vm    manager  active        ready  2     -          23.54G  -            -"]


def test_nodes_table_marks_the_leader_and_shows_free_room_and_labels():
    nodes = [NodeView("m1", "manager", "active", "ready", 2.0, 8 * 1024**3, leader=True, free_cpus=0.75,
                      free_memory=5 * 1024**3),
             NodeView("w1", "worker", "drain", "down", 4.0, 16 * 1024**3, labels=(("gpu", "true"), ("zone", "a")),
                      free_cpus=0.0, free_memory=-1)]
    lines = nodes_table(nodes).splitlines()
    assert lines[1].split() == ["m1", "manager", "(leader)", "active", "ready", "2", "0.75", "8G", "5G", "-"]
    assert lines[2].split() == ["w1", "worker", "drain", "down", "4", "0", "16G", "0", "gpu=true,zone=a"]
    assert "no nodes" in nodes_table([])


def test_a_node_view_from_node_inspect_with_its_reservations():
    raw = {"ID": "abcdef1234567890",
           "Spec": {"Role": "manager", "Availability": "active", "Labels": {"z": "1", "a": "2"}},
           "Status": {"State": "ready"}, "ManagerStatus": {"Leader": True},
           "Description": {"Hostname": "vm", "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 8 * 1024**3}}}
    view = node_view(raw, (0.5, 1024**3))
    assert view == NodeView("vm", "manager", "active", "ready", 2.0, 8 * 1024**3, leader=True,
                            labels=(("a", "2"), ("z", "1")), free_cpus=1.5, free_memory=7 * 1024**3)
    worker = node_view({"ID": "abcdef1234567890", "Spec": {"Role": "worker"}})
    assert (worker.hostname, worker.leader, worker.labels, worker.free_cpus) == ("abcdef123456", False, (), None)


def test_servers_table_lists_running_servers_with_their_labels_and_age():
    servers = [server("ann", minutes=90, name="gpu"), server("bob", running=False),
               ServerView("s-lab-cy", ServerLabels("s-lab", "cy"), None, True)]
    lines = servers_table(servers, NOW).splitlines()
    assert lines[0].split() == ["USER", "SERVER", "ROLE", "ENVIRONMENT", "CPUS", "MEMORY", "AGE", "SERVICE"]
    assert lines[1].split() == ["ann", "gpu", "analysts", "python", "0.5", "1G", "1h30m", "s-lab-ann"]
    assert lines[2].split() == ["cy", "(default)", "-", "-", "-", "-", "?", "s-lab-cy"]
    assert len(lines) == 3  # bob's server does not run
    assert servers_table([], NOW) == "no user servers running"


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h00m"),
                                               (90061, "1d01h"), (-5, "0s")])
def test_age(seconds, text):
    assert age(NOW - dt.timedelta(seconds=seconds), NOW) == text


def test_pool_use_adds_up_running_servers_per_role():
    use = pool_use([server("a"), server("b", cpu=1, mem=2 * GiB), server("c", role="big"), server("d", running=False),
                    ServerView("x", ServerLabels("p", "x"), None, True)])
    assert use == {"analysts": PoolUse("analysts", 2, 1.5, 3 * GiB), "big": PoolUse("big", 1, 0.5, GiB)}


def test_pools_table_shows_use_of_each_pool_and_roles_without_servers():
    use = {"analysts": PoolUse("analysts", 2, 1.5, 3 * GiB)}
    limits = {"analysts": {"pool_servers": 4, "pool_cpu": 2.0, "pool_mem": 8 * GiB, "max_servers": 1},
              "big": {"pool_servers": None, "pool_cpu": None, "pool_mem": None, "max_servers": 2}}
    lines = pools_table(use, limits).splitlines()
    assert lines[0].split() == ["ROLE", "SERVERS", "CPUS", "MEMORY", "PER", "USER"]
    assert lines[1].split() == ["analysts", "2", "of", "4", "1.5", "of", "2", "3G", "of", "8G", "1"]
    assert lines[2].split() == ["big", "0", "0", "0", "2"]


def test_pools_table_without_limits_points_at_the_quota_page():
    text = pools_table({"analysts": PoolUse("analysts", 1, 0.5, GiB)}, None, "the hub did not answer")
    assert text.splitlines()[1].split() == ["analysts", "1", "0.5", "1G", "-"]
    assert text.splitlines()[-1] == "limits: see the quota page, /hub/mlops/quotas (the hub did not answer)"
    assert pools_table({}, None, "no token").splitlines() == [
        "no role has a server running", "limits: see the quota page, /hub/mlops/quotas (no token)"]
    assert pools_table({}, {}) == "no role has a server running"


def test_a_tasks_spec_matches_its_services_despite_filled_in_defaults():
    service = {"ContainerSpec": {"Image": "hub:2", "Args": ["x"], "Env": ["B=1", "A=2"], "StopGracePeriod": 10,
                                 "Secrets": [{"SecretName": "s_token_abc"}]}, "Runtime": "container", "ForceUpdate": 1}
    task = {"ContainerSpec": {"Image": "hub:2", "Args": ["x"], "Env": ["A=2", "B=1"],
                              "Secrets": [{"SecretName": "s_token_abc"}]}, "ForceUpdate": 1}
    assert spec_key(task) == spec_key(service)
    for change in ({"Image": "hub:1"}, {"Secrets": [{"SecretName": "s_token_old"}]}):
        assert spec_key({**task, "ContainerSpec": {**task["ContainerSpec"], **change}}) != spec_key(service)
    assert spec_key({**task, "ForceUpdate": 0}) != spec_key(service)


def test_docker_times_with_nanoseconds_parse():
    assert parse_time("2026-12-02T14:37:34.13339579Z") == dt.datetime(2026, 12, 2, 14, 37, 34, 133395,
                                                                      tzinfo=dt.timezone.utc)
    assert parse_time("2026-12-02T14:37:34Z").second == 34
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("") is None


# ---------------------------------------------------------------- logs: which services a name means

SERVICES = ["db", "edge", "hub", "mlflow", "proxy"]


def test_a_service_name_means_the_stack_service():
    assert log_targets("hub", "s", SERVICES, [("hub", "s-lab-hub")]) == ["s_hub"]  # the service wins


def test_a_user_name_means_all_their_servers():
    servers = [("ann", "s-lab-ann-gpu"), ("ann", "s-lab-ann"), ("bob", "s-lab-bob")]
    assert log_targets("ann", "s", SERVICES, servers) == ["s-lab-ann", "s-lab-ann-gpu"]


def test_an_unknown_name_lists_the_services_and_users():
    with pytest.raises(UnknownName) as e:
        log_targets("nobody", "s", SERVICES, [("bob", "s-lab-bob")])
    assert str(e.value) == ("logs: 'nobody' is neither a service of stack s nor a user with a server;"
                            " services: db, edge, hub, mlflow, proxy; users with a server: bob")
    assert e.value.exit_code == 2
    with pytest.raises(UnknownName, match="no user has a server"):
        log_targets("nobody", "s", SERVICES, [])
    with pytest.raises(UnknownName, match="stack s has no services"):
        log_targets("hub", "s", [], [])
