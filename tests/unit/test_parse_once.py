"""Parse once: the platform settings are parsed once per hub (and again only when they change), a
spawn's user_options are validated once, and the quota store is read at most once per request."""

from __future__ import annotations

import pytest
from docker.errors import ImageNotFound
from dockerspawner import SwarmSpawner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import mlops_hub.spawner as spawner_module
from mlops_hub.policy import platform as platform_module
from mlops_hub.quotas.service import quota_service
from mlops_hub.quotas.store import QuotaStore
from mlops_hub.spawner import MLOpsSwarmSpawner

from .fakes import ENVIRONMENTS, ROLE_POLICIES, fake_user, spawner_config


class Counts:
    def __init__(self) -> None:
        self.parses = 0
        self.validations = 0
        self.store_reads = 0


@pytest.fixture
def counts(monkeypatch) -> Counts:
    found = Counts()
    platform_module._parse.cache_clear()
    quota_service().reset()

    real_parse = platform_module.role_policies_from_config

    def counting_parse(*args, **kwargs):
        found.parses += 1
        return real_parse(*args, **kwargs)

    real_validate = spawner_module.validate_spawn_options

    def counting_validate(*args, **kwargs):
        found.validations += 1
        return real_validate(*args, **kwargs)

    real_roles = QuotaStore.roles

    def counting_roles(self, db):
        found.store_reads += 1
        return real_roles(self, db)

    async def no_docker_start(self):
        return ("10.0.0.9", 8888)

    async def no_running_servers(self):
        return []

    async def no_image_here(self, method, *args, **kwargs):  # the form's look at the images' labels
        raise ImageNotFound(f"{method}: no Docker in unit tests")

    monkeypatch.setattr(platform_module, "role_policies_from_config", counting_parse)
    monkeypatch.setattr(spawner_module, "validate_spawn_options", counting_validate)
    monkeypatch.setattr(QuotaStore, "roles", counting_roles)
    monkeypatch.setattr(SwarmSpawner, "start", no_docker_start)
    monkeypatch.setattr(MLOpsSwarmSpawner, "_running_charges", no_running_servers)
    monkeypatch.setattr(MLOpsSwarmSpawner, "docker", no_image_here)
    yield found
    quota_service().reset()


def hub_spawner(name: str, db: Session, quota_store: bool) -> MLOpsSwarmSpawner:
    """A spawner as JupyterHub makes one per user server, from the hub's one config."""
    config = spawner_config(environments=ENVIRONMENTS, role_policies=ROLE_POLICIES, quota_store=quota_store)
    user = fake_user(name, groups=["data-scientists"])
    user.db = db
    spawner = MLOpsSwarmSpawner(config=config, user=user)
    user.spawners[""] = spawner
    return spawner


async def form_spawn(spawner: MLOpsSwarmSpawner) -> None:
    """What JupyterHub does for one person: show the form, take the post, apply options, start."""
    await spawner.get_options_form()
    options = spawner.run_options_from_form(
        {"environment": ["torch"], "cpu_limit": ["2"], "mem_limit": ["3"]})
    await spawner._run_apply_user_options(options)
    assert await spawner.start() == ("10.0.0.9", 8888)


@pytest.mark.parametrize("quota_store", [False, True])
async def test_one_parse_per_hub_one_validation_per_spawn_one_store_read_per_request(counts, quota_store):
    db = Session(create_engine("sqlite://"))
    first = hub_spawner("alice", db, quota_store)
    assert counts.parses == 1  # the hub's first spawner parses the settings

    reads_before = counts.store_reads
    await first.get_options_form()
    assert counts.store_reads - reads_before == (1 if quota_store else 0)  # one page view, one read

    reads_before, validations_before = counts.store_reads, counts.validations
    options = first.run_options_from_form({"environment": ["torch"], "cpu_limit": ["2"], "mem_limit": ["3"]})
    assert counts.validations == validations_before  # options_from_form only builds the dict
    await first._run_apply_user_options(options)
    assert await first.start() == ("10.0.0.9", 8888)
    assert counts.validations - validations_before == 1
    assert counts.store_reads - reads_before == (1 if quota_store else 0)  # validation + admission share it

    for name in ("bob", "carol"):
        await form_spawn(hub_spawner(name, db, quota_store))
    assert counts.parses == 1  # every other spawner of the hub reuses the parse


async def test_a_changed_setting_is_parsed_again(counts):
    db = Session(create_engine("sqlite://"))
    hub_spawner("alice", db, False)
    spawner = hub_spawner("bob", db, False)
    assert counts.parses == 1
    spawner.role_policies = {**ROLE_POLICIES, "data-scientists": {**ROLE_POLICIES["data-scientists"], "max_cpu": 3}}
    assert spawner.user_access().max_cpu == 3.0
    assert counts.parses == 2
