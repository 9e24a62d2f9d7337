"""Storage on the real swarm: the `local` backend end to end (home, team folders), and the `nfs`
backend's volume specification as Docker accepts it (this machine has no kernel NFS client, so
no container can mount an NFS volume here: the data behaviour is tested with the local backend)."""

from __future__ import annotations

import os

import docker
import pytest

from mlops_hub.policy.storage import safe_name, storage_from_config
from mlops_hub.swarm.volumes import docker_mount

from .own_stack import remove_volumes, run_in, server_container, service_of

BASE = os.environ.get("MLOPS_TEST_STACK", "mlopstest")
HOME = "/home/jovyan"
# the session's shared stack has these settings (conftest.platform_settings): roles st-team (with a team
# folder) and st-other, environments python and python-alt


@pytest.fixture(scope="module")
def docker_client() -> docker.APIClient:
    return docker.APIClient()


@pytest.fixture(scope="module")
def storage_hub(hub):
    return hub


@pytest.fixture
def spawn(storage_hub):
    """spawn(user, groups, environment) -> container id; servers are stopped afterwards."""
    started: list[str] = []

    def _spawn(user: str, groups: list[str], environment: str = "python") -> str:
        storage_hub.create_user(user, groups)
        started.append(user)
        r = storage_hub.spawn(user, {"environment": environment})
        assert r.status_code in (201, 202), r.text
        storage_hub.wait_ready(user)
        return server_container(docker.APIClient(), service_of(storage_hub, user)["Spec"]["Name"])

    yield _spawn
    for user in started:
        if storage_hub.server_model(user) is not None:
            storage_hub.stop(user)


def _mount_sources(hub, user: str) -> set[str]:
    spec = service_of(hub, user)["Spec"]["TaskTemplate"]["ContainerSpec"]
    return {m["Source"] for m in spec.get("Mounts") or []}


def test_home_writable_survives_stop_start_and_environment_switch(storage_hub, spawn, user_name, docker_client):
    container = spawn(user_name, ["st-other"], "python")
    assert _mount_sources(storage_hub, user_name) == {f"{storage_hub.prefix}-home-{safe_name(user_name)}"}
    code, out = run_in(docker_client, container, f"echo kept-{user_name} > {HOME}/notes.txt && "
                                                 f"stat -c '%u:%g' {HOME} && id -u && id -g")
    owner, uid, gid = out.strip().splitlines()
    assert code == 0 and owner == f"{uid}:{gid}", out
    storage_hub.stop(user_name)

    container = spawn(user_name, ["st-other"], "python-alt")
    assert service_of(storage_hub, user_name)["Spec"]["Labels"]["mlops-hub.environment"] == "python-alt"
    code, out = run_in(docker_client, container, ["cat", f"{HOME}/notes.txt"])
    assert (code, out.strip()) == (0, f"kept-{user_name}")


def test_team_folder_shared_between_members_and_not_visible_to_others(storage_hub, spawn, user_name, docker_client):
    team = f"{HOME}/teams/st-team"
    first = spawn(f"{user_name}-1", ["st-team"])
    second = spawn(f"{user_name}-2", ["st-team"])
    outsider = spawn(f"{user_name}-3", ["st-other"])

    code, out = run_in(docker_client, first, f"stat -c '%u:%g %a' {team} && echo from-first > {team}/plan.txt")
    assert code == 0 and out.split()[1] == "2775", out  # group-writable, new files keep the group
    code, out = run_in(docker_client, second, f"cat {team}/plan.txt && echo from-second >> {team}/plan.txt")
    assert (code, out.strip()) == (0, "from-first")
    code, out = run_in(docker_client, first, ["cat", f"{team}/plan.txt"])
    assert out.split() == ["from-first", "from-second"]

    team_volume = f"{storage_hub.prefix}-team-{safe_name('st-team')}"
    assert team_volume in _mount_sources(storage_hub, f"{user_name}-2")
    assert team_volume not in _mount_sources(storage_hub, f"{user_name}-3")
    code, out = run_in(docker_client, outsider, f"ls {HOME}/teams")
    assert code != 0 and "No such file" in out, out
    # homes are separate: the second member does not see the first one's home files
    run_in(docker_client, first, f"echo mine > {HOME}/private.txt")
    code, _ = run_in(docker_client, second, ["test", "-e", f"{HOME}/private.txt"])
    assert code != 0


def test_nfs_volume_spec_accepted_by_docker_without_mounting_it(docker_client):
    """Only the specification is tested: this machine has no kernel NFS client (`nfs` is not in
    /proc/filesystems), so no container can mount the volume here. Docker must accept the driver
    options the spawner generates, exactly as Swarm passes them when it creates the volume."""
    prefix = f"{BASE}-nfsprobe"
    nfs = {"server": "10.0.0.5", "export": "/export/mlops", "options": "nfsvers=4,soft"}
    storage = storage_from_config({"backend": "nfs", "nfs": nfs,
                                   "roles": {"sci": {"team": True, "datasets": ["imagenet"]}}})
    mounts = storage.mounts(prefix, "Alice.Smith", ["sci"])
    assert [m.kind for m in mounts] == ["home", "team", "datasets"]
    labels = {"mlops-hub.prefix": prefix}
    try:
        for m in mounts:
            spec = docker_mount(m, labels)
            options = spec["VolumeOptions"]["DriverConfig"]["Options"]
            assert spec["VolumeOptions"]["DriverConfig"]["Name"] == "local" and spec["ReadOnly"] == m.read_only
            docker_client.create_volume(m.source, driver="local", driver_opts=options, labels=labels)
            inspected = docker_client.inspect_volume(m.source)
            assert inspected["Driver"] == "local"
            assert inspected["Options"] == options
            assert inspected["Options"]["type"] == "nfs" and inspected["Options"]["o"].startswith("addr=10.0.0.5,")
        home = docker_client.inspect_volume(mounts[0].source)["Options"]
        assert home["device"] == f":/export/mlops/home/{safe_name('Alice.Smith')}"
    finally:
        remove_volumes(docker_client, prefix)
