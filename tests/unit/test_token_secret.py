"""The hub API token travels as a Swarm secret, never in the service's environment."""

from __future__ import annotations

import subprocess

import pytest

from mlops_hub.swarm import token_secret

from .test_spawner import FakeDocker, make_spawner, offline

TOKEN = "0123456789abcdef0123456789abcdef"


async def test_token_is_a_secret_and_not_in_the_service_spec():
    spawner = make_spawner(["data-scientists"])
    spawner.apply_request({})
    docker = FakeDocker(image_user="1000:100")
    offline(spawner, docker)
    spawner.get_env = lambda: {"JUPYTERHUB_USER": "alice", "JUPYTERHUB_API_TOKEN": TOKEN, "JPY_API_TOKEN": TOKEN}
    await spawner.create_object()
    ((_, kwargs),) = docker.called("create_service")
    assert TOKEN not in repr(kwargs)
    container = kwargs["task_template"]["ContainerSpec"]
    assert "JUPYTERHUB_API_TOKEN_FILE=/run/secrets/jupyterhub_api_token" in container["Env"]
    ((secret_args, secret_kwargs),) = docker.called("create_secret")
    assert secret_args[1] == TOKEN.encode()
    assert secret_kwargs["labels"]["mlops-hub.kind"] == "api-token"
    (reference,) = container["Secrets"]
    assert reference["File"] == {"Name": "jupyterhub_api_token", "UID": "1000", "GID": "100", "Mode": 0o400}
    assert container["Args"][:2] == ["/bin/sh", "-c"]
    assert container["Args"][-2:] == ["start.sh", "--ServerApp.port=8888"]


async def test_without_the_setting_the_token_stays_in_the_environment_like_dockerspawner():
    spawner = make_spawner(["data-scientists"], api_token_secret=False)
    spawner.apply_request({})
    docker = FakeDocker()
    offline(spawner, docker)
    spawner.get_env = lambda: {"JUPYTERHUB_API_TOKEN": TOKEN}
    await spawner.create_object()
    ((_, kwargs),) = docker.called("create_service")
    assert f"JUPYTERHUB_API_TOKEN={TOKEN}" in kwargs["task_template"]["ContainerSpec"]["Env"]
    assert docker.called("create_secret") == []


async def test_removing_the_server_removes_its_token_secrets():
    spawner = make_spawner(["data-scientists"])
    docker = FakeDocker()
    offline(spawner, docker)
    await spawner.remove_object()
    ((_, kwargs),) = docker.called("secrets")
    assert f"mlops-hub.service={spawner.service_name}" in kwargs["filters"]["label"]


def test_the_wrapper_exports_the_token_from_the_file_and_runs_the_command(tmp_path):
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    args = token_secret.wrap_args(["sh", "-c", 'echo "$JUPYTERHUB_API_TOKEN $JPY_API_TOKEN $1"', "x", "arg 1"])
    out = subprocess.run(args, env={"JUPYTERHUB_API_TOKEN_FILE": str(secret), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{TOKEN} {TOKEN} arg 1"


@pytest.mark.parametrize("owner", ["jovyan", "", "1000", "jovyan:users"])
def test_the_token_secret_is_never_mounted_without_a_numeric_owner(owner):
    """A 0444 file would let every process in the server's container read the token."""
    with pytest.raises(ValueError, match="numeric uid:gid"):
        token_secret.secret_reference("id", "name", owner)


def test_the_token_secret_is_owner_only():
    ref = token_secret.secret_reference("id", "name", "1234:100")
    assert (ref["File"]["UID"], ref["File"]["GID"], ref["File"]["Mode"]) == ("1234", "100", 0o400)


def test_secret_names_fit_swarms_limit_and_differ_per_token():
    long_service = "mlops-lab-" + "a" * 53
    names = {token_secret.secret_name(long_service, t) for t in ("one", "two")}
    assert len(names) == 2
    assert all(len(n) <= 64 and n[0].isalnum() and n[-1].isalnum() for n in names)


class SecretStore:
    """Swarm's secret list, in memory: enough for `remove_token_secrets`' label filter and removals."""

    def __init__(self, names):
        self.names = list(names)

    async def __call__(self, method, *args, **kwargs):
        if method == "secrets":
            return [{"ID": f"id-{n}", "Spec": {"Name": n}} for n in self.names]
        if method == "remove_secret":
            self.names.remove(args[0].removeprefix("id-"))
            return None
        raise AssertionError(method)


@pytest.mark.parametrize("keep, only, left", [
    (None, None, []),
    ("job-api-token-old", None, ["job-api-token-old"]),  # a written spec's secret stays, stale ones go
    (None, "job-api-token-new", ["job-api-token-old"]),  # a reschedule that failed drops only its own
])
async def test_a_jobs_token_secrets_are_removed_all_but_the_kept_or_only_the_named(keep, only, left):
    store = SecretStore(["job-api-token-old", "job-api-token-new"])
    await token_secret.remove_token_secrets(store, "prefix", "job", keep=keep, only=only)
    assert store.names == left


def test_the_token_secret_is_found_among_a_services_secret_references():
    token = token_secret.secret_reference("id-1", "job-api-token-abc", "1000:100")
    index = {"SecretID": "id-2", "SecretName": "index-netrc", "File": {"Name": "netrc"}}
    assert token_secret.mounted_token_secret([index, dict(token)]) == "job-api-token-abc"
    assert token_secret.mounted_token_secret([index]) is None
