"""Admin configuration of environments and roles: parsed once, errors name the setting."""

import pytest

from mlops_hub.policy import EnvironmentCatalogue, RolePolicy
from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.roles import role_policies_from_config

from .fakes import ENVIRONMENTS, GiB, catalogue, policies


def test_catalogue_keeps_the_admins_order_and_parses_defaults():
    cat = catalogue()
    assert cat.slugs == ["python", "torch", "gpu"]
    torch = cat.get("torch")
    assert torch.image == "mlops-hub/lab-torch:2.4"
    assert torch.default_cpu == 2.0
    assert torch.default_mem == 6 * GiB
    assert torch.roles is None
    assert cat.get("gpu").roles == frozenset({"gpu-users"})
    assert cat.get("python").default is True
    assert cat.get("nope") is None


def test_display_name_defaults_to_the_slug():
    cat = EnvironmentCatalogue.from_config([{"slug": "r", "image": "r-lab:4"}])
    assert cat.get("r").display_name == "r"


def test_environment_with_unknown_key_names_the_item_and_the_key():
    with pytest.raises(ConfigError, match=r"environments\[1\]: unknown keys \['cmd'\]"):
        EnvironmentCatalogue.from_config([ENVIRONMENTS[0], {"slug": "x", "image": "x:1", "cmd": "sh"}])


@pytest.mark.parametrize("slug", ["Python", "my_env", "-lead", "trail-", "", "a" * 64, "has space", None, 3])
def test_environment_with_bad_slug_is_refused(slug):
    with pytest.raises(ConfigError, match=r"environments\[0\]\.slug: must be lowercase"):
        EnvironmentCatalogue.from_config([{"slug": slug, "image": "x:1"}])


@pytest.mark.parametrize("image", [None, "", "   "])
def test_environment_without_image_is_refused(image):
    raw = {"slug": "x"} if image is None else {"slug": "x", "image": image}
    with pytest.raises(ConfigError, match=r"environments\[0\]\.image: required"):
        EnvironmentCatalogue.from_config([raw])


def test_duplicate_environment_slug_is_refused():
    with pytest.raises(ConfigError, match="slug 'python' is defined twice"):
        EnvironmentCatalogue.from_config([ENVIRONMENTS[0], {"slug": "python", "image": "other:1"}])


def test_environment_with_bad_default_size_names_the_item():
    with pytest.raises(ConfigError, match=r"environments\[0\]\.default_mem: .*'huge'"):
        EnvironmentCatalogue.from_config([{"slug": "x", "image": "x:1", "default_mem": "huge"}])


def test_environment_roles_must_be_a_list_not_a_string():
    with pytest.raises(ConfigError, match=r"environments\[0\]\.roles: expected a list"):
        EnvironmentCatalogue.from_config([{"slug": "x", "image": "x:1", "roles": "gpu-users"}])


def test_environment_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match=r"environments\[0\]: expected a mapping"):
        EnvironmentCatalogue.from_config(["mlops-hub/lab-base:latest"])


def test_role_policy_parses_limits_defaults_and_environments():
    parsed = policies()
    ds = parsed["data-scientists"]
    assert ds == RolePolicy(
        name="data-scientists", max_cpu=4.0, max_mem=8 * GiB, default_cpu=1.0, default_mem=2 * GiB,
        environments=frozenset({"python", "torch"}), max_servers=2,
    )
    assert parsed["gpu-users"].environments is None  # '*' means every environment
    assert parsed["gpu-users"].max_servers == 1


def test_role_policy_max_servers_defaults_to_one():
    assert RolePolicy.from_document("r", {"max_cpu": 1, "max_mem": "1G"}).max_servers == 1


@pytest.mark.parametrize("missing", ["max_cpu", "max_mem"])
def test_role_policy_without_a_maximum_names_the_missing_setting(missing):
    raw = {"max_cpu": 2, "max_mem": "4G"}
    del raw[missing]
    with pytest.raises(ConfigError, match=rf"role_policies\['team'\]\.{missing}: required"):
        role_policies_from_config({"team": raw})


def test_role_policy_with_unknown_key_lists_the_allowed_keys():
    with pytest.raises(ConfigError) as info:
        role_policies_from_config({"team": {"max_cpu": 2, "max_mem": "4G", "max_gpu": 1}})
    message = str(info.value)
    assert message.startswith("role_policies['team'].max_gpu: unknown key; allowed:")
    assert "max_servers" in message and "pool_cpu" in message


@pytest.mark.parametrize(
    "raw, bad",
    [
        ({"max_cpu": "lots", "max_mem": "4G"}, "'lots'"),
        ({"max_cpu": 2, "max_mem": "huge"}, "'huge'"),
        ({"max_cpu": 2, "max_mem": "4G", "default_mem": "4Q"}, "'4Q'"),
        ({"max_cpu": "nan", "max_mem": "4G"}, "'nan'"),
        ({"max_cpu": [2], "max_mem": "4G"}, "list"),
    ],
)
def test_role_policy_with_bad_size_names_the_role_and_the_value(raw, bad):
    with pytest.raises(ConfigError) as info:
        role_policies_from_config({"team": raw})
    assert str(info.value).startswith("role_policies['team']")
    assert bad in str(info.value)


@pytest.mark.parametrize("raw", [{"max_cpu": 0, "max_mem": "4G"}, {"max_cpu": -1, "max_mem": "4G"},
                                 {"max_cpu": 1, "max_mem": 0}])
def test_role_policy_maximum_must_be_at_least_the_smallest_server(raw):
    with pytest.raises(ConfigError, match=r"role_policies\['team'\]\.max_(cpu|mem): .* is outside (0\.1|128M) to"):
        role_policies_from_config({"team": raw})


@pytest.mark.parametrize("max_servers", [-1, 1.5, "2", True])
def test_role_policy_max_servers_must_be_a_whole_number(max_servers):
    pattern = r"role_policies\['team'\]\.max_servers: (expected a whole number|-1 is outside)"
    with pytest.raises(ConfigError, match=pattern):
        role_policies_from_config({"team": {"max_cpu": 1, "max_mem": "1G", "max_servers": max_servers}})


def test_role_policy_environments_must_be_a_list_or_star():
    with pytest.raises(ConfigError, match=r"role_policies\['team'\]\.environments: expected a list"):
        role_policies_from_config({"team": {"max_cpu": 1, "max_mem": "1G", "environments": "python"}})


def test_role_policy_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match=r"role_policies\['team'\]: expected a mapping"):
        role_policies_from_config({"team": 4})


def test_role_referencing_an_unknown_environment_names_role_and_slug():
    with pytest.raises(ConfigError) as info:
        role_policies_from_config(
            {"team": {"max_cpu": 1, "max_mem": "1G", "environments": ["python", "rstudio"]}}, catalogue()
        )
    assert str(info.value) == (
        "role_policies['team'].environments: unknown ['rstudio']; defined: python, torch, gpu"
    )


def test_roles_referencing_known_environments_or_star_pass_the_reference_check():
    from .fakes import ROLE_POLICIES

    assert set(role_policies_from_config(ROLE_POLICIES, catalogue())) == set(ROLE_POLICIES)
