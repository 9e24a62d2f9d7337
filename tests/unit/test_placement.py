"""What an unplaceable server lacks, from the nodes' capacity and the reservations on them."""

import pytest

from mlops_hub.swarm.placement import (
    NodeRoom,
    PlacementsInFlight,
    fits_on_some_node,
    free_room,
    is_resource_shortage,
    missing_resources,
    no_room_detail,
    no_room_reason,
    surely_no_room,
)

from .fakes import GiB, node, task


def test_free_room_is_capacity_less_the_reservations_of_tasks_holding_room():
    tasks = [task("running", node="n1", reserve_cpu=0.5, reserve_mem=GiB),
             task("starting", node="n1", reserve_cpu=0.25, reserve_mem=GiB),
             task("pending", node="", reserve_cpu=8, reserve_mem=GiB),     # not placed: holds nothing
             task("shutdown", node="n1", reserve_cpu=1, reserve_mem=GiB),  # ended: its room is free again
             task("running", node="n2", reserve_cpu=1, reserve_mem=0)]
    rooms = free_room([node("n1", cpus=2, mem=8 * GiB), node("n2", cpus=4, mem=2 * GiB)], tasks)
    assert rooms == [NodeRoom("n1", 1.25, 6 * GiB), NodeRoom("n2", 3.0, 2 * GiB)]


def test_nodes_that_take_no_tasks_have_no_room():
    nodes = [node("down", state="down"), node("drained", availability="drain"), node("ok", cpus=1, mem=GiB)]
    assert [r.node_id for r in free_room(nodes, [])] == ["ok"]


def test_overbooked_node_has_zero_room_not_negative():
    rooms = free_room([node("n1", cpus=1, mem=GiB)], [task("running", node="n1", reserve_cpu=2, reserve_mem=2 * GiB)])
    assert rooms == [NodeRoom("n1", 0.0, 0)]


@pytest.mark.parametrize("reason, shortage", [
    ("no suitable node (insufficient resources on 1 node)", True),
    ("no suitable node (scheduling constraints not satisfied on 1 node)", False),
    ("no suitable node (1 node not available for new tasks; insufficient resources on 2 nodes)", True),
])
def test_resource_shortage_is_told_from_swarms_reason(reason, shortage):
    assert is_resource_shortage(reason) is shortage


def test_short_cpu_is_named_with_the_most_free():
    text = missing_resources(1.5, GiB, [NodeRoom("n1", 0.2, 10 * GiB), NodeRoom("n2", 1, GiB // 2)])
    assert text == ("It reserves 1.5 CPUs and 1G; the most free on any node is 1 CPUs and 10G:"
                    " not enough CPU.")


def test_short_memory_is_named():
    assert missing_resources(0.1, 4 * GiB, [NodeRoom("n1", 2, GiB)]).endswith("not enough memory.")


def test_both_short_are_named():
    assert missing_resources(3, 4 * GiB, [NodeRoom("n1", 0, 0)]).endswith(
        "the most free on any node is 0 CPUs and 0: not enough CPU or memory.")


def test_each_fits_somewhere_but_not_together():
    rooms = [NodeRoom("n1", 2, 0), NodeRoom("n2", 0, 8 * GiB)]
    assert missing_resources(1, GiB, rooms).endswith("not enough CPU and memory on one node.")


def test_no_node_at_all():
    assert missing_resources(1, GiB, []) == "No node can take servers now."


def test_a_server_fits_only_where_one_node_has_both_its_cpu_and_its_memory():
    rooms = [NodeRoom("a", 2.0, 1 * GiB), NodeRoom("b", 0.5, 8 * GiB)]
    assert fits_on_some_node(1.0, GiB, rooms) and fits_on_some_node(0.5, 8 * GiB, rooms)
    assert not fits_on_some_node(1.0, 2 * GiB, rooms)  # CPU on a, memory on b: on no one node
    assert not fits_on_some_node(0.1, 1, [])
    # what is left after reservations in floats (2 - 0.2 * 8) still holds a 0.4 CPU reservation
    left = free_room([node("n", cpus=2, mem=8 * GiB)], [task("running", node="n", reserve_cpu=0.2, reserve_mem=1)] * 8)
    assert fits_on_some_node(0.4, 1, left)


def test_the_reason_before_swarm_is_asked_counts_the_nodes_like_swarms_own():
    assert no_room_reason([NodeRoom("a", 0, 0)]) == "no node has room for it now (insufficient resources on 1 node)"
    assert no_room_reason([NodeRoom("a", 0, 0)] * 3).endswith("(insufficient resources on 3 nodes)")


def test_servers_on_their_way_count_until_their_task_holds_room_then_not_twice():
    placing = PlacementsInFlight()
    placing.add(("alice", ""), 1.0, GiB)
    placing.add(("bob", ""), 0.5, GiB)
    assert placing.unplaced([]) == (1.5, 2 * GiB)
    placing.created(("alice", ""), "svc-a")
    assert placing.unplaced([{"ServiceID": "svc-b"}]) == (1.5, 2 * GiB)  # another service's task: still counted
    assert placing.unplaced([{"ServiceID": "svc-a"}]) == (0.5, GiB)  # alice's task is in the free room already
    placing.discard(("bob", ""))
    placing.discard(("nobody", ""))
    placing.created(("nobody", ""), "svc-x")  # a spawn that never went through the check: nothing to count
    assert placing.unplaced([]) == (1.0, GiB)


@pytest.mark.parametrize(("cpu", "mem", "unplaced", "expected"), [
    (1.0, GiB, (0, 0), False),
    (1.0, GiB, (1.0, 0), False),  # 2.5 CPUs free across the nodes, 1 on its way: 1.5 left
    (1.0, GiB, (1.6, 0), True),  # 0.9 left in all
    (1.0, GiB, (0, 9.5 * GiB), True),  # 10G free in all, 9.5G on its way
    (2.5, GiB, (0, 0), True),  # no one node has 2.5 CPUs
])
def test_a_sure_no_counts_the_free_room_and_what_is_on_its_way(cpu, mem, unplaced, expected):
    rooms = [NodeRoom("a", 1.5, 2 * GiB), NodeRoom("b", 1.0, 8 * GiB)]
    assert surely_no_room(cpu, mem, rooms, unplaced) is expected


def test_the_detail_names_what_the_servers_starting_now_take():
    rooms = [NodeRoom("a", 1.5, 8 * GiB)]
    assert no_room_detail(1.0, GiB, rooms, (1.0, GiB)) == (
        "It reserves 1 CPUs and 1G; the nodes have 1.5 CPUs and 8G free, and servers starting now take 1 CPUs and 1G"
        " of it: not enough CPU.")
    assert no_room_detail(2.0, GiB, rooms, (0, 0)) == missing_resources(2.0, GiB, rooms)
