"""A server whose node was lost: the reason in words, kept in the spawner's state, shown on the spawn form."""

from __future__ import annotations

from docker.errors import NotFound

from mlops_hub.swarm.node_loss import node_end_reason
from tests.unit.test_spawner import FakeDocker, make_spawner, offline, owning_service_1


def swarm_node(hostname="vm-w1", state="ready", availability="active") -> dict:
    return {"ID": "n1", "Description": {"Hostname": hostname}, "Status": {"State": state},
            "Spec": {"Availability": availability, "Role": "worker"}}


def test_a_down_drained_or_vanished_node_is_named_and_a_healthy_one_is_not():
    assert node_end_reason(swarm_node(state="down"), "n1") == "node vm-w1 is down"
    assert node_end_reason(swarm_node(availability="drain"), "n1") == (
        "node vm-w1 was drained (an admin took it out of service)")
    assert node_end_reason(None, "abcdef0123456789") == "node abcdef012345 left the swarm"
    assert node_end_reason(swarm_node(), "n1") is None
    assert node_end_reason(swarm_node(availability="pause"), "n1") is None  # pause keeps running tasks


class LostNodeDocker(FakeDocker):
    """The service's task was given up (desired state shutdown) on a node that is now `node`."""

    def __init__(self, node: dict | None):
        task = {"ID": "t1", "NodeID": "n1", "Version": {"Index": 9}, "DesiredState": "shutdown",
                "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c1"}},
                "Spec": {"Resources": {"Limits": {"MemoryBytes": 1024**3}}}}
        super().__init__(tasks=[task])
        self.node = node

    async def __call__(self, method, *args, **kwargs):
        if method == "inspect_node":
            self.calls.append((method, args, kwargs))
            if self.node is None:
                raise NotFound("no such node")
            return self.node
        if method == "inspect_container":
            self.calls.append((method, args, kwargs))
            raise NotFound("the container was on the lost node")
        return await super().__call__(method, *args, **kwargs)


def lost(spawner, node: dict | None) -> LostNodeDocker:
    docker = LostNodeDocker(node)
    offline(spawner, docker)
    owning_service_1(spawner)
    return docker


async def test_poll_finds_the_server_gone_with_its_node_says_why_and_keeps_it_in_the_state():
    spawner = make_spawner()
    docker = lost(spawner, swarm_node(state="down"))
    assert await spawner.poll() is not None
    assert spawner.last_stop_reason == "Your server stopped: node vm-w1 is down."
    assert docker.called("remove_service") == [(("service-1",), {})]  # nothing left half-created
    # JupyterHub clears the state of a stopped server and saves get_state(): the reason survives both
    spawner.clear_state()
    state = spawner.get_state()
    assert state["last_stop_reason"] == "Your server stopped: node vm-w1 is down."
    again = make_spawner()
    again.load_state(state)
    assert again.last_stop_reason == spawner.last_stop_reason


async def test_the_form_tells_the_reason_until_a_start_succeeds():
    spawner = make_spawner()
    lost(spawner, None)
    await spawner.poll()
    offline(spawner, FakeDocker())
    html = await spawner._options_form_html()
    assert "Your server stopped: node n1 left the swarm. Start it again below." in html
    spawner.last_stop_reason = ""
    assert "Your server stopped" not in await spawner._options_form_html()


async def test_a_server_that_ended_on_a_healthy_node_gets_no_node_reason():
    spawner = make_spawner()
    lost(spawner, swarm_node())
    assert await spawner.poll() is not None
    assert spawner.last_stop_reason == ""
    assert "last_stop_reason" not in spawner.get_state()
