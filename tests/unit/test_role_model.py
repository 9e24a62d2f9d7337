"""One role model: the same document is accepted or refused the same way by platform.yaml, the quota
store seeding, the REST API and the admin page - they all call RolePolicy.from_document."""

import pytest

from mlops_hub.policy import EnvironmentCatalogue
from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.platform import check_spawner_settings
from mlops_hub.policy.roles import (
    RolePolicy,
    check_role_name,
    describe_change,
    display_document,
    role_policies_from_config,
)

GiB = 1024**3
MiB = 1024**2
CAT = EnvironmentCatalogue.from_config([{"slug": "python", "image": "i"},
                                        {"slug": "spark", "image": "s", "min_mem": "2G"}])


def test_normalized_document_round_trips():
    policy = RolePolicy.from_document("t", {"max_cpu": 2, "max_mem": "4G", "environments": ["spark", "python"],
                                            "pool_cpu": 16, "pool_mem": "64G", "pool_servers": 10}, CAT)
    document = policy.document()
    assert document == {"max_cpu": 2.0, "max_mem": 4 * GiB, "default_cpu": None, "default_mem": None,
                        "max_servers": 1, "pool_cpu": 16.0, "pool_mem": 64 * GiB, "pool_servers": 10,
                        "environments": ["python", "spark"]}
    assert RolePolicy.from_document("t", document) == policy
    assert policy.pool.cpu == 16.0 and policy.pool.servers == 10


BAD_DOCUMENTS = [
    ({"max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1}, "max_mem"),
    ({"max_cpu": "2", "max_mem": "4G"}, "max_cpu"),  # a CPU count is a number, in YAML and JSON alike
    ({"max_cpu": True, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": [1], "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": -1, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1e308, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": float("nan"), "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1, "max_mem": "4Q"}, "max_mem"),
    ({"max_cpu": 1, "max_mem": -5}, "max_mem"),
    ({"max_cpu": 1, "max_mem": 10**30}, "max_mem"),
    ({"max_cpu": 1, "max_mem": "1e300G"}, "max_mem"),
    ({"max_cpu": 1, "max_mem": "64M"}, "max_mem"),
    ({"max_cpu": 1, "max_mem": "4G", "max_servers": 1.5}, "max_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "max_servers": "2"}, "max_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "pool_servers": 10**9}, "pool_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "environments": ["pyhton"]}, "environments"),
    ({"max_cpu": 1, "max_mem": "4G", "environments": "python"}, "environments"),
    ({"max_cpu": 1, "max_mem": "4G", "cpu": 3}, "cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "default_cpu": 2}, "default_cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "default_mem": "8G"}, "default_mem"),
    ({"max_cpu": 4, "max_mem": "4G", "pool_cpu": 2}, "pool_cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "pool_mem": "1G"}, "pool_mem"),
    # spark needs 2G: a role that may start it must allow at least that much
    ({"max_cpu": 1, "max_mem": "1G", "environments": ["spark"]}, "max_mem"),
]


@pytest.mark.parametrize("document, field", BAD_DOCUMENTS)
def test_bad_documents_name_the_field_the_same_way_for_api_and_config(document, field):
    with pytest.raises(ConfigError) as api:
        RolePolicy.from_document("team", document, CAT)
    assert api.value.field == field, str(api.value)
    # platform.yaml goes through the same parser: same key, named inside role_policies['team']
    settings = {"environments": [{"slug": "python", "image": "i"}, {"slug": "spark", "image": "s", "min_mem": "2G"}],
                "role_policies": {"team": document}}
    with pytest.raises(ConfigError) as config:
        check_spawner_settings(settings)
    assert config.value.field == f"role_policies['team'].{field}"
    assert config.value.message == api.value.message


def test_a_document_the_config_accepts_is_stored_as_the_api_would_store_it():
    raw = {"max_cpu": 2, "max_mem": "4G", "pool_cpu": 16, "pool_servers": 8}
    from_config = role_policies_from_config({"risk": raw}, CAT)["risk"]
    assert from_config.document() == RolePolicy.from_document("risk", raw, CAT).document()


@pytest.mark.parametrize("name", ["", "a/b", "x" * 300, 5, "white space", "-lead", "tab\tname", "new\nline"])
def test_bad_role_names(name):
    with pytest.raises(ConfigError) as info:
        check_role_name(name)
    assert info.value.field == "role"


@pytest.mark.parametrize("name", ["fz-é", "аналитики", "data_scientists", "team.a@corp", "r2-d2", "数据"])
def test_role_names_in_any_script(name):
    assert check_role_name(name) == name


def test_bad_role_name_in_config_names_the_role():
    with pytest.raises(ConfigError, match=r"role_policies\['a/b'\]: must be a group name"):
        role_policies_from_config({"a/b": {"max_cpu": 1, "max_mem": "1G"}})


def test_change_history_in_words_and_units():
    before = RolePolicy.from_document("t", {"max_cpu": 1, "max_mem": "2G"}).document()
    after = RolePolicy.from_document("t", {"max_cpu": 1, "max_mem": "4G", "pool_cpu": 8,
                                           "environments": ["python"]}).document()
    assert describe_change(before, after) == ["max_mem 2G -> 4G", "environments all -> python",
                                              "pool_cpu unlimited -> 8"]
    assert describe_change(None, before) == ["created: max_cpu 1, max_mem 2G, environments all, max_servers 1"]
    assert describe_change(before, None) == ["deleted"]
    assert describe_change(before, before) == []
    assert display_document(after)["max_mem"] == "4G"
