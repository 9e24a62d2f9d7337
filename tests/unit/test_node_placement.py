"""Placement policy: node_labels and node_pool parsed from platform.yaml, turned into Swarm constraints, merged
with the admin's extra_placement_spec, and the sentence naming what no node has (no Docker)."""

from __future__ import annotations

import pytest

from mlops_hub.policy import ConfigError, EnvironmentCatalogue
from mlops_hub.policy.form import render_options_form
from mlops_hub.policy.placement import (
    NodeRequirement,
    constraints,
    merge_constraints,
    missing_labels,
    parse_node_labels,
    parse_node_pool,
    placeable_nodes_labels,
    requirements,
)
from mlops_hub.policy.platform import check_spawner_settings
from mlops_hub.policy.request import validate_spawn_options
from mlops_hub.policy.roles import resolve_access
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs

from .fakes import node


def env(slug="gpu", **more) -> dict:
    return {"slug": slug, "display_name": slug.upper(), "image": f"site/{slug}:1", **more}


# ---- parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "pairs"), [
    ({"gpu": "true"}, (("gpu", "true"),)),
    ({"gpu": True, "cuda": 12}, (("gpu", "true"), ("cuda", "12"))),  # YAML's true and numbers
    (["gpu=true", "highmem"], (("gpu", "true"), ("highmem", "true"))),  # a bare name: the value true
    ([" zone = eu-west/1 "], (("zone", "eu-west/1"),)),
    (None, ()),
    ([], ()),
])
def test_node_labels_as_a_mapping_or_a_list(raw, pairs):
    assert parse_node_labels("x", raw) == pairs


@pytest.mark.parametrize(("raw", "says"), [
    ("gpu=true", "expected a mapping"),
    ([1], "expected 'name=value' or 'name' strings"),
    (["gpu="], "must be letters"),  # empty: Swarm refuses `!= ""` and has no "exists"
    ({"gpu": ""}, "not empty"),
    (["bad key=1"], "label name 'bad key'"),
    (["gpu=a b"], "value 'a b'"),
    ({"gpu": "x==y"}, "value 'x==y'"),
    (["gpu=true", "gpu=false"], "label 'gpu' is given twice"),
    ({"gpu": None}, "value 'None'"),
])
def test_bad_node_labels_name_the_key_and_what_is_allowed(raw, says):
    with pytest.raises(ConfigError) as info:
        EnvironmentCatalogue.from_config([env(node_labels=raw)])
    assert info.value.field == "environments[0].node_labels" and says in info.value.message


@pytest.mark.parametrize("raw", ["", "ETL", "has space", 3, "a" * 64])
def test_a_bad_node_pool_names_the_role_and_key(raw):
    with pytest.raises(ConfigError) as info:
        check_spawner_settings({"environments": [env()],
                                "role_policies": {"etl": {"max_cpu": 1, "max_mem": "1G", "node_pool": raw}}})
    assert info.value.field == "role_policies['etl'].node_pool" and "pool name" in info.value.message


def test_a_node_pool_is_a_placement_setting_not_part_of_the_quota_document():
    policy = check_spawner_settings({"environments": [env()], "role_policies": {
        "data-engineers": {"max_cpu": 1, "max_mem": "1G", "node_pool": "etl"},
        "analysts": {"max_cpu": 1, "max_mem": "1G"}}})
    assert policy.node_pools == {"data-engineers": "etl"}
    assert "node_pool" not in policy.role_documents["data-engineers"]  # the quota store never sees it
    assert parse_node_pool("x", None) is None


# ---- constraints ---------------------------------------------------------------------------

def test_requirements_become_swarm_constraints_with_who_asks():
    needs = requirements("GPU", (("gpu", "true"), ("highmem", "true")), "data-engineers", "etl")
    assert constraints(needs) == ["node.labels.gpu == true", "node.labels.highmem == true",
                                  "node.labels.mlops-hub.pool == etl"]
    assert needs[0].wanted_by == "environment 'GPU'" and needs[2].wanted_by == "role 'data-engineers'"
    assert requirements("Python", (), "analysts", None) == []


def test_admin_constraints_stay_and_ours_are_added_once():
    admin = {"constraints": ["node.role == worker", "node.labels.gpu == true"], "preferences": [("spread", "x")]}
    merged = merge_constraints(admin, ["node.labels.gpu == true", "node.labels.mlops-hub.pool == etl"])
    assert merged == {"constraints": ["node.role == worker", "node.labels.gpu == true",
                                      "node.labels.mlops-hub.pool == etl"], "preferences": [("spread", "x")]}
    assert admin["constraints"] == ["node.role == worker", "node.labels.gpu == true"]  # not changed in place
    assert merge_constraints(None, []) == {} and merge_constraints({"platforms": []}, []) == {"platforms": []}


def test_the_service_spec_carries_both_the_admins_and_our_constraints():
    spec = ServerSpec(name="s", image="i", args=[], env={},
                      extra_placement_spec={"constraints": ["node.role == worker"]},
                      constraints=["node.labels.gpu == true"])
    placement = build_service_kwargs(spec)["task_template"]["Placement"]
    assert placement["Constraints"] == ["node.role == worker", "node.labels.gpu == true"]


# ---- what no node has ----------------------------------------------------------------------

GPU = NodeRequirement("gpu", "true", "environment 'GPU'")
POOL = NodeRequirement("mlops-hub.pool", "etl", "role 'data-engineers'")


def test_a_label_no_node_has_is_named_with_who_requires_it():
    text = missing_labels([GPU], [{}, {"gpu": "false"}])
    assert text == "No node has the label gpu=true, which environment 'GPU' requires."


def test_a_pool_no_node_is_in_is_named_with_the_role():
    text = missing_labels([GPU, POOL], [{"gpu": "TRUE"}])  # Swarm compares values case-insensitively
    assert text == ("No node is in pool 'etl' (label mlops-hub.pool=etl), which role 'data-engineers' is"
                    " limited to.")


def test_both_missing_are_both_named():
    text = missing_labels([GPU, POOL], [{"zone": "a"}])
    assert "no node has the label gpu=true" in text.lower() and "no node is in pool 'etl'" in text


def test_labels_on_different_nodes_but_none_with_all_are_said_so():
    text = missing_labels([GPU, POOL], [{"gpu": "true"}, {"mlops-hub.pool": "etl"}])
    assert text == ("No one node has all of gpu=true, mlops-hub.pool=etl (environment 'GPU',"
                    " role 'data-engineers').")


def test_nothing_is_missing_when_one_node_has_it_all_or_nothing_is_needed():
    assert missing_labels([GPU, POOL], [{"gpu": "true", "mlops-hub.pool": "etl"}]) == ""
    assert missing_labels([], [{}]) == ""


def test_only_nodes_that_take_tasks_count():
    nodes = [node("a", labels={"gpu": "true"}, availability="drain"), node("b", labels={"gpu": "true"}, state="down"),
             node("c", labels={"zone": "x"})]
    assert placeable_nodes_labels(nodes) == [{"zone": "x"}]
    assert "gpu=true" in missing_labels([GPU], placeable_nodes_labels(nodes))


# ---- the role a spawn is charged to decides its pool ---------------------------------------

def test_a_user_in_several_roles_gets_the_pool_of_the_role_the_spawn_runs_under():
    policy = check_spawner_settings({
        "environments": [env("python"), env("etl-env", node_labels=["ssd"])],
        "role_policies": {
            "analysts": {"max_cpu": 1, "max_mem": "1G", "environments": ["python"], "node_pool": "general"},
            "data-engineers": {"max_cpu": 1, "max_mem": "1G", "environments": ["etl-env"], "node_pool": "etl"}}})
    access = resolve_access(["analysts", "data-engineers"], policy.roles, policy.catalogue)
    for slug, role, wanted in (("python", "analysts", ["node.labels.mlops-hub.pool == general"]),
                               ("etl-env", "data-engineers", ["node.labels.ssd == true",
                                                              "node.labels.mlops-hub.pool == etl"])):
        request = validate_spawn_options({"environment": slug}, access, policy.roles)
        assert request.role == role
        assert constraints(policy.node_requirements(request.environment, request.role)) == wanted


# ---- the form ------------------------------------------------------------------------------

def test_the_form_says_which_environments_need_labelled_nodes():
    policy = check_spawner_settings({"environments": [env("python"), env("gpu", node_labels={"gpu": "true"})],
                                     "role_policies": {"default": {"max_cpu": 1, "max_mem": "1G"}}})
    access = resolve_access([], policy.roles, policy.catalogue)
    html = render_options_form(access, validate_spawn_options({}, access, policy.roles))
    assert html.count("Runs on nodes labelled") == 1 and "Runs on nodes labelled gpu=true." in html
