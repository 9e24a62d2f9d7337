"""Regressions found by review: each test pins a bug that once existed."""

from __future__ import annotations

import pytest

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.roles import role_policies_from_config
from mlops_hub.spawner import MLOpsSwarmSpawner
from mlops_hub.swarm.spec import nano_cpus

from .fakes import ENVIRONMENTS, GiB, fake_user, spawner_config
from .test_spawner import FormInputs, make_spawner, rendered_form


def test_implicit_role_limits_do_not_shrink_after_a_spawn():
    spawner = make_spawner(environments=ENVIRONMENTS, role_policies={}, cpu_limit=1.0, mem_limit=2 * GiB)
    spawner.apply_request({"cpu_limit": "0.5", "mem_limit": "1G"})
    request = spawner.validate_request({"cpu_limit": "1", "mem_limit": "2G"})
    assert (request.cpu_limit, request.mem_limit) == (1.0, 2 * GiB)


async def test_form_for_a_user_with_no_usable_environment_says_so():
    spawner = make_spawner(role_policies={"default": {"max_cpu": 1, "max_mem": "1G", "environments": []}})
    form = await rendered_form(spawner)
    assert "no environment is available to your roles" in form
    assert 'name="environment"' not in form


def test_role_policies_without_environments_start_dockerspawners_image():
    spawner = MLOpsSwarmSpawner(
        config=spawner_config(image="lab:1", role_policies={"default": {"max_cpu": 2, "max_mem": "2G"}}),
        user=fake_user())
    spawner.user.spawners[spawner.name] = spawner
    request = spawner.apply_request({"cpu_limit": 2})
    assert request.environment.image == "lab:1"
    assert spawner.image == "lab:1"


def test_a_role_naming_an_unknown_environment_fails_when_the_spawner_is_made():
    with pytest.raises(ConfigError, match=r"role_policies\['team'\]\.environments: unknown \['spark'\]"):
        MLOpsSwarmSpawner(config=spawner_config(
            environments=ENVIRONMENTS,
            role_policies={"team": {"max_cpu": 1, "max_mem": "1G", "environments": ["spark"]}}),
            user=fake_user())


async def test_the_untouched_form_always_validates():
    spawner = make_spawner(role_policies={"default": {"max_cpu": 0.25, "max_mem": "1000M"}})
    inputs = FormInputs(await rendered_form(spawner))
    cpu, mem = inputs.one("cpu_limit"), inputs.one("mem_limit")
    assert cpu["step"] == "any" and mem["step"] == "any"
    # what a browser posts when the user changes nothing, and when they type the shown maximum
    for posted_mem in (mem["value"], mem["max"]):
        options = spawner.run_options_from_form(
            {"environment": ["python"], "cpu_limit": [cpu["max"]], "mem_limit": [posted_mem]})
        spawner.validate_request(options)


def test_roles_may_not_set_limits_below_the_smallest_server():
    with pytest.raises(ConfigError, match=r"max_cpu: 0\.05 is outside 0\.1 to"):
        role_policies_from_config({"team": {"max_cpu": 0.05, "max_mem": "1G"}})
    with pytest.raises(ConfigError, match=r"max_mem: 64M is outside 128M to"):
        role_policies_from_config({"team": {"max_cpu": 1, "max_mem": "64M"}})


def test_cpu_counts_become_exact_nano_cpus():
    assert nano_cpus(1.001) == 1_001_000_000
    assert nano_cpus(0.3) == 300_000_000
