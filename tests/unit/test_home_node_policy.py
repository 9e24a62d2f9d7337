"""Homes on local volumes stay on one node (mlops_hub/policy/home_node.py): the constraint, the form's line,
what a user reads when that node cannot take the server, and when `mlops-hub home move` must refuse."""

from __future__ import annotations

import pytest

from mlops_hub.policy.home_node import (
    home_constraint,
    home_line,
    home_unplaceable_advice,
    move_refusal,
    node_refusal,
    split_files_error,
)


def test_the_constraint_names_the_node_by_id():
    assert home_constraint("abc123") == "node.id == abc123"


def test_the_form_line_names_the_node():
    assert home_line("vm-w1") == "Your files are on node vm-w1: your servers start there."


@pytest.mark.parametrize(("state", "availability", "why"), [
    ("down", "active", "which is down"),
    ("unknown", "active", "which is down"),
    ("ready", "drain", "which is drained"),
    ("ready", "pause", "which is paused"),
])
def test_a_home_node_that_cannot_take_the_server_is_named_with_what_to_do(state, availability, why):
    advice = home_unplaceable_advice("vm-w1", state, availability, "the platform team")
    assert advice is not None
    assert f"Your files are on node vm-w1, {why}" in advice
    assert "the platform team can move your files to another node (mlops-hub home move)" in advice


def test_a_ready_active_home_node_gives_no_advice():
    assert home_unplaceable_advice("vm-w1", "ready", "active", "admins") is None


def test_a_home_node_outside_the_roles_pool_names_the_missing_label():
    advice = home_unplaceable_advice("vm", "ready", "active", "admins",
                                     "Label mlops-hub.pool=gpu (role ds) is on no node that takes tasks.")
    assert advice == ("Your files are on node vm, where this server may not run: Label mlops-hub.pool=gpu (role ds)"
                      " is on no node that takes tasks. admins can move your files to another node"
                      " (mlops-hub home move).")


def test_a_move_is_refused_while_the_user_has_servers_or_jobs_running():
    why = move_refusal("alice", ["lab-alice", "lab-job-alice-1"], [], target_is_home=False)
    assert why is not None and "alice has running servers or jobs (lab-alice, lab-job-alice-1): stop them" in why


def test_a_move_is_refused_when_team_folders_would_stay_behind():
    why = move_refusal("alice", [], ["ds", "analysts"], target_is_home=False)
    assert why is not None and "team folders or datasets on local volumes (roles analysts, ds)" in why
    assert "nfs" in why


@pytest.mark.parametrize(("state", "availability", "expected"), [
    ("down", "active", "the new node vm-w1 is down: the copy runs on both nodes"),
    ("ready", "drain", "the new node vm-w1 is drain: the copy runs a task there; make it active for the move"
                       " (docker node update --availability active vm-w1)"),
    ("ready", "active", None),
])
def test_a_node_that_cannot_run_the_copy_is_named(state, availability, expected):
    why = node_refusal("new", "vm-w1", state, availability)
    assert why == expected if expected is None else why is not None and why.startswith(expected)


def test_a_move_to_where_the_home_already_is_is_refused_and_a_clean_move_allowed():
    assert move_refusal("alice", [], [], target_is_home=True) == "alice's home is already on that node"
    assert move_refusal("alice", [], [], target_is_home=False) is None


def test_split_files_names_the_kinds_left_on_the_hubs_node():
    assert split_files_error("alice", []) is None
    why = split_files_error("alice", ["team", "datasets", "team"])
    assert why is not None and "their datasets and team folders are local volumes" in why
