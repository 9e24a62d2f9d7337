"""Which limits and environments a user gets from their JupyterHub groups."""

import pytest

from mlops_hub.policy import PolicyRefusal, resolve_access
from mlops_hub.policy.roles import role_policies_from_config

from .fakes import GiB, catalogue, policies


def slugs(access):
    return [env.slug for env in access.environments]


def test_user_in_one_role_gets_that_roles_limits_and_environments():
    access = resolve_access(["data-scientists"], policies(), catalogue())
    assert access.roles == ("data-scientists",)
    assert (access.max_cpu, access.max_mem, access.max_servers) == (4.0, 8 * GiB, 2)
    assert (access.default_cpu, access.default_mem) == (1.0, 2 * GiB)
    assert slugs(access) == ["python", "torch"]


def test_groups_that_are_not_roles_are_ignored():
    access = resolve_access(["data-scientists", "staff", "lab-42"], policies(), catalogue())
    assert access.roles == ("data-scientists",)


def test_user_in_no_role_gets_the_default_role():
    access = resolve_access(["staff"], policies(), catalogue())
    assert access.roles == ("default",)
    assert (access.max_cpu, access.max_mem, access.max_servers) == (1.0, 2 * GiB, 1)
    assert slugs(access) == ["python"]


def test_user_in_no_role_and_no_default_role_is_refused_with_whom_to_ask():
    no_default = {k: v for k, v in policies().items() if k != "default"}
    with pytest.raises(PolicyRefusal) as info:
        resolve_access(["staff"], no_default, catalogue(), admin_contact="the ML platform team (#mlops-help)")
    message = str(info.value)
    assert "Ask the ML platform team (#mlops-help) to add you to one" in message
    assert "data-scientists, gpu-users" in message


def test_refusal_without_admin_contact_points_to_the_platform_administrators():
    with pytest.raises(PolicyRefusal, match="Ask your platform administrators"):
        resolve_access([], {}, catalogue())


def test_multi_role_merge_takes_the_most_permissive_value_per_dimension():
    # data-scientists: 4 CPU, 8G, 2 servers, python+torch; gpu-users: 8 CPU, 4G, 1 server, '*'
    access = resolve_access(["gpu-users", "data-scientists"], policies(), catalogue())
    assert access.roles == ("data-scientists", "gpu-users")
    assert access.max_cpu == 8.0  # from gpu-users
    assert access.max_mem == 8 * GiB  # from data-scientists
    assert access.max_servers == 2  # from data-scientists
    assert slugs(access) == ["python", "torch", "gpu"]  # union, in catalogue order


def test_multi_role_merge_takes_the_largest_defaults_and_ignores_missing_ones():
    raw = {
        "a": {"max_cpu": 4, "max_mem": "8G", "default_cpu": 1, "default_mem": "3G"},
        "b": {"max_cpu": 4, "max_mem": "8G", "default_cpu": 2, "default_mem": "1G"},
        "c": {"max_cpu": 4, "max_mem": "8G"},
    }
    access = resolve_access(["a", "b", "c"], role_policies_from_config(raw), catalogue())
    assert (access.default_cpu, access.default_mem) == (2.0, 3 * GiB)


def test_no_defaults_anywhere_gives_none():
    raw = {"a": {"max_cpu": 4, "max_mem": "8G"}}
    access = resolve_access(["a"], role_policies_from_config(raw), catalogue())
    assert (access.default_cpu, access.default_mem) == (None, None)


def test_multi_role_merge_does_not_add_up_allowances():
    raw = {"a": {"max_cpu": 2, "max_mem": "2G", "max_servers": 2},
           "b": {"max_cpu": 2, "max_mem": "2G", "max_servers": 2}}
    access = resolve_access(["a", "b"], role_policies_from_config(raw), catalogue())
    assert (access.max_cpu, access.max_mem, access.max_servers) == (2.0, 2 * GiB, 2)


def test_environment_restricted_to_a_role_is_hidden_from_other_roles_even_with_star():
    raw = {"default": {"max_cpu": 1, "max_mem": "1G", "environments": "*"}}
    access = resolve_access([], role_policies_from_config(raw), catalogue())
    assert slugs(access) == ["python", "torch"]  # gpu is for gpu-users only


def test_environment_restriction_and_role_list_must_both_allow():
    # the role may use gpu by its environments list, but the environment is for gpu-users only
    raw = {"ml": {"max_cpu": 1, "max_mem": "1G", "environments": ["gpu", "python"]},
           "gpu-users": {"max_cpu": 1, "max_mem": "1G", "environments": ["python"]}}
    parsed = role_policies_from_config(raw)
    assert slugs(resolve_access(["ml"], parsed, catalogue())) == ["python"]
    # gpu-users may use gpu by the environment, but its own list leaves it out
    assert slugs(resolve_access(["gpu-users"], parsed, catalogue())) == ["python"]


def test_default_environment_is_the_marked_one_else_the_first_usable():
    access = resolve_access(["gpu-users"], policies(), catalogue())
    assert access.default_environment.slug == "python"  # marked default: true
    raw = {"t": {"max_cpu": 1, "max_mem": "1G", "environments": ["torch", "gpu"]}}
    only_torch = resolve_access(["t"], role_policies_from_config(raw), catalogue())
    assert only_torch.default_environment.slug == "torch"


def test_role_with_no_environments_has_no_default_environment():
    raw = {"default": {"max_cpu": 1, "max_mem": "1G", "environments": []}}
    access = resolve_access([], role_policies_from_config(raw), catalogue())
    assert access.environments == ()
    assert access.default_environment is None


def test_environment_lookup_only_finds_usable_environments():
    access = resolve_access([], policies(), catalogue())
    assert access.environment("python").image == "mlops-hub/lab-base:latest"
    assert access.environment("torch") is None
