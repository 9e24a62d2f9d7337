"""doctor's look at every node (deploy/node_probe.py, doctor.node_probe_finding): which node cannot pull the image,
whose clock is off, and how a global job's log lines are read."""

from __future__ import annotations

from mlops_hub.deploy.doctor import FAIL, OK, WARN, node_probe_finding
from mlops_hub.deploy.node_probe import NodeAnswer, NodeProbe, parse_clocks

IMAGE = "10.0.0.1:5000/mlops-hub/lab-base:r-1@sha256:" + "a" * 64


def probe(*answers: NodeAnswer, started: float = 1000.0, ended: float = 1010.0) -> NodeProbe:
    return NodeProbe(IMAGE, answers, started, ended)


def test_the_log_lines_of_a_global_job_give_each_nodes_clock():
    logs = ("mlops-doctor-nodes-ab12.x1y2z3@vm    | clock 1733200000.125\n"
            "mlops-doctor-nodes-ab12.q9w8e7@vm-w1 | clock 1733200001\n"
            "some other line\n")
    assert parse_clocks(logs) == {"vm": 1733200000.125, "vm-w1": 1733200001.0}


def test_every_node_that_pulled_and_agrees_is_ok():
    found = node_probe_finding(probe(NodeAnswer("vm", "Complete", clock=1001.0),
                                     NodeAnswer("vm-w1", "Complete", clock=1009.5)))
    assert found.status == OK and found.fix is None
    assert found.message == f"nodes (each): 2 node(s) pulled and ran {IMAGE}; clocks within 5 s"


def test_a_node_that_cannot_pull_fails_naming_it_with_dockers_reason_and_the_fix():
    found = node_probe_finding(probe(
        NodeAnswer("vm", "Complete", clock=1001.0),
        NodeAnswer("vm-w2", "Rejected", "No such image: x509: certificate signed by unknown authority"),
        NodeAnswer("vm-w3", "")))
    assert found.status == FAIL
    assert "vm-w2 (No such image: x509: certificate signed by unknown authority)" in found.message
    assert "vm-w3 (its task is not started)" in found.message and "vm (" not in found.message
    assert found.fix is not None and "mlops-hub nodes join-command" in found.fix


def test_a_clock_outside_the_probes_window_is_a_warning_with_how_far():
    found = node_probe_finding(probe(NodeAnswer("vm-w1", "Complete", clock=900.0),
                                     NodeAnswer("vm-w2", "Complete", clock=1100.0),
                                     NodeAnswer("vm", "Complete", clock=1004.0)))
    assert found.status == WARN
    assert found.message == ("nodes (each): clocks disagree with this host's: vm-w1 at least 100 s behind;"
                             " vm-w2 at least 90 s ahead")
    assert found.fix is not None and "chrony" in found.fix


def test_a_clock_that_could_not_be_read_is_a_warning_not_a_pass():
    found = node_probe_finding(probe(NodeAnswer("vm", "Complete", clock=None)))
    assert found.status == WARN and "clock not read on vm" in found.message
