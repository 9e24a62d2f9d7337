"""Validation of quota documents: every bad value names its field."""

import pytest

from mlops_hub.policy import EnvironmentCatalogue
from mlops_hub.policy.quota_spec import (
    QuotaSpecError,
    check_role_name,
    normalize_role_spec,
    role_policy_from_spec,
    spec_from_config,
)
from mlops_hub.policy.roles import role_policies_from_config

GiB = 1024**3
CAT = EnvironmentCatalogue.from_config([{"slug": "python", "image": "i"}, {"slug": "torch", "image": "t"}])


def test_normalized_document():
    spec = normalize_role_spec({"max_cpu": 2, "max_mem": "4G", "environments": ["torch", "python"],
                                "pool_cpu": 16, "pool_mem": "64G", "pool_servers": 10}, CAT)
    assert spec == {"max_cpu": 2.0, "max_mem": 4 * GiB, "default_cpu": None, "default_mem": None,
                    "max_servers": 1, "pool_cpu": 16.0, "pool_mem": 64 * GiB, "pool_servers": 10,
                    "environments": ["python", "torch"]}
    policy = role_policy_from_spec("t", spec)
    assert policy.environments == frozenset({"python", "torch"}) and policy.max_mem == 4 * GiB


@pytest.mark.parametrize("doc, field", [
    ([], "body"),
    ({"max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1}, "max_mem"),
    ({"max_cpu": "2", "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": True, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": [1], "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": -1, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1e308, "max_mem": "4G"}, "max_cpu"),
    ({"max_cpu": 1, "max_mem": "4Q"}, "max_mem"),
    ({"max_cpu": 1, "max_mem": -5}, "max_mem"),
    ({"max_cpu": 1, "max_mem": 10**30}, "max_mem"),
    ({"max_cpu": 1, "max_mem": "1e300G"}, "max_mem"),
    ({"max_cpu": 1, "max_mem": "4G", "max_servers": 1.5}, "max_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "max_servers": "2"}, "max_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "pool_servers": 10**9}, "pool_servers"),
    ({"max_cpu": 1, "max_mem": "4G", "environments": ["nope"]}, "environments"),
    ({"max_cpu": 1, "max_mem": "4G", "environments": "python"}, "environments"),
    ({"max_cpu": 1, "max_mem": "4G", "cpu": 3}, "cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "default_cpu": 2}, "default_cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "default_mem": "8G"}, "default_mem"),
    ({"max_cpu": 4, "max_mem": "4G", "pool_cpu": 2}, "pool_cpu"),
    ({"max_cpu": 1, "max_mem": "4G", "pool_mem": "1G"}, "pool_mem"),
])
def test_bad_documents_name_the_field(doc, field):
    with pytest.raises(QuotaSpecError) as e:
        normalize_role_spec(doc, CAT)
    assert e.value.field == field, str(e.value)


@pytest.mark.parametrize("name", ["", "a/b", "x" * 300, 5, "white space"])
def test_bad_role_names(name):
    with pytest.raises(QuotaSpecError):
        check_role_name(name)


def test_config_entries_with_pools_are_valid_role_policies_and_seeds():
    raw = {"risk-models": {"max_cpu": "2", "max_mem": "4G", "pool_cpu": 16, "pool_servers": 8}}
    assert role_policies_from_config(raw)["risk-models"].max_cpu == 2
    assert spec_from_config("risk-models", raw["risk-models"])["pool_cpu"] == 16.0
    with pytest.raises(QuotaSpecError, match=r"role_policies\['x'\].pool_cpu"):
        spec_from_config("x", {"max_cpu": 4, "max_mem": "4G", "pool_cpu": 1})
