"""`mlops-hub up`: wrong login or database settings are refused naming the setting, before any deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_hub.deploy import stack
from mlops_hub.deploy.shell import DeployError
from mlops_hub.deploy.stack import StackSettings, oidc_enabled, oidc_overlay

REPO = Path(__file__).resolve().parents[2]
OIDC = {"MLOPS_OIDC_ISSUER": "https://keycloak.example/realms/ml", "MLOPS_OIDC_CLIENT_ID": "hub",
        "MLOPS_OIDC_CALLBACK_URL": "https://hub.example/hub/oauth_callback", "MLOPS_OIDC_ALLOWED_GROUPS": "/staff"}


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "client_secret"
    path.write_text("s3cret-value\n")
    path.chmod(0o600)
    return path


def settings(tmp_path, secret: Path | None = None, env: dict | None = None, everyone: bool = False) -> StackSettings:
    return StackSettings(repo=REPO, stack="unit", state_dir=tmp_path / "state", oidc_client_secret_file=secret,
                         extra_env=env or {}, oidc_allow_everyone=everyone, own_registry=False)


def test_without_an_issuer_the_stack_keeps_password_login(tmp_path):
    env: dict[str, str] = {}
    assert oidc_overlay(settings(tmp_path), env) == [] and env == {}


def test_overlay_adds_the_secret_file_and_its_hash(tmp_path, secret_file):
    env = dict(OIDC)
    files = oidc_overlay(settings(tmp_path, secret_file), env)
    assert files == [str(REPO / "swarm-stack.oidc.yml")]
    assert env["MLOPS_OIDC_CLIENT_SECRET_FILE"] == str(secret_file)
    assert len(env["MLOPS_SECRET_HASH_oidc_client_secret"]) == 12
    assert "s3cret" not in "".join(env.values())


@pytest.mark.parametrize(("drop", "named"), [
    ("MLOPS_OIDC_CLIENT_ID", "MLOPS_OIDC_CLIENT_ID"),
    ("MLOPS_OIDC_CALLBACK_URL", "MLOPS_OIDC_CALLBACK_URL"),
])
def test_missing_oidc_settings_are_named(tmp_path, secret_file, drop, named):
    env = {k: v for k, v in OIDC.items() if k != drop}
    with pytest.raises(DeployError, match=f"^{named}: required when MLOPS_OIDC_ISSUER is set"):
        oidc_enabled(settings(tmp_path, secret_file), env)


def test_secret_file_is_required_and_must_hold_something(tmp_path):
    with pytest.raises(DeployError, match="^--oidc-client-secret-file: required"):
        oidc_enabled(settings(tmp_path), OIDC)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(DeployError, match="^--oidc-client-secret-file: .*missing or empty"):
        oidc_enabled(settings(tmp_path, empty), OIDC)
    with pytest.raises(DeployError, match="^--oidc-client-secret-file: .*missing or empty"):
        oidc_enabled(settings(tmp_path, tmp_path / "nope"), OIDC)


def test_secret_file_without_an_issuer_is_a_mistake(tmp_path, secret_file):
    with pytest.raises(DeployError, match="^--oidc-client-secret-file: given, but MLOPS_OIDC_ISSUER is not set"):
        oidc_enabled(settings(tmp_path, secret_file), {})


def test_a_bad_setting_deploys_nothing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append(cmd))
    for name in OIDC:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DeployError, match="--oidc-client-secret-file"):
        stack.deploy(settings(tmp_path, env=OIDC))
    assert calls == []


def test_deploy_passes_both_compose_files(tmp_path, secret_file, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append((cmd, kw["env"])))
    stack.deploy(settings(tmp_path, secret_file, OIDC))
    (cmd, env), = calls
    assert cmd[cmd.index("-c") + 1].endswith("swarm-stack.yml")
    assert cmd[cmd.index("-c", cmd.index("-c") + 1) + 1].endswith("swarm-stack.oidc.yml")
    assert env["MLOPS_OIDC_CLIENT_SECRET_FILE"] == str(secret_file)


@pytest.mark.parametrize("url", ["postgresql+psycopg2://hub:pw@db.example:5432/hub", "postgresql://:pw@db/hub",
                                 "postgresql+psycopg2://hub@db/hub?password=pw",
                                 "postgresql://hub@db/hub?sslmode=require&PASSWORD=pw"])
def test_a_database_url_with_a_password_is_refused_before_deploying(tmp_path, monkeypatch, url):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    with pytest.raises(DeployError, match="^MLOPS_HUB_DB_URL: must not carry a password") as info:
        stack.deploy(settings(tmp_path, env={"MLOPS_HUB_DB_URL": url}))
    assert "pw" not in str(info.value) and calls == []


def test_a_database_url_without_a_password_deploys(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append(kw["env"]["MLOPS_HUB_DB_URL"]))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    stack.deploy(settings(tmp_path, env={"MLOPS_HUB_DB_URL": "postgresql+psycopg2://hub@db.example/hub"}))
    assert calls == ["postgresql+psycopg2://hub@db.example/hub"]


def test_oidc_without_allowed_groups_needs_the_allow_everyone_flag(tmp_path, secret_file):
    open_env = {k: v for k, v in OIDC.items() if k != "MLOPS_OIDC_ALLOWED_GROUPS"}
    # a value left in the deploying shell is not the flag
    for env in (open_env, {**open_env, "MLOPS_OIDC_ALLOW_EVERYONE": "1"}):
        with pytest.raises(DeployError, match="^MLOPS_OIDC_ALLOWED_GROUPS: required.*--oidc-allow-everyone"):
            oidc_enabled(settings(tmp_path, secret_file), env)
    env = {**open_env, "MLOPS_OIDC_ALLOW_EVERYONE": "junk"}
    assert oidc_overlay(settings(tmp_path, secret_file, everyone=True), env)
    assert env["MLOPS_OIDC_ALLOW_EVERYONE"] == "1"
    env = dict(OIDC, MLOPS_OIDC_ALLOW_EVERYONE="1")
    assert oidc_overlay(settings(tmp_path, secret_file), env) and env["MLOPS_OIDC_ALLOW_EVERYONE"] == ""


def test_allow_everyone_flag_with_allowed_groups_or_without_oidc_is_a_mistake(tmp_path, secret_file):
    with pytest.raises(DeployError, match="^--oidc-allow-everyone: MLOPS_OIDC_ALLOWED_GROUPS is set too"):
        oidc_enabled(settings(tmp_path, secret_file, everyone=True), OIDC)
    with pytest.raises(DeployError, match="^--oidc-allow-everyone: given, but MLOPS_OIDC_ISSUER is not set"):
        oidc_enabled(settings(tmp_path, everyone=True), {})


def test_default_deploy_is_per_person_accounts_with_no_user_password(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append((cmd, kw["env"])))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    monkeypatch.delenv("MLOPS_HUB_LOGIN", raising=False)
    stack.deploy(settings(tmp_path))
    (cmd, env), = calls
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-c"] == [str(REPO / "swarm-stack.yml")]
    assert env["MLOPS_HUB_LOGIN"] == "accounts"
    secrets = tmp_path / "state" / "unit" / "secrets"
    assert (secrets / "admin_password").exists() and not (secrets / "user_password").exists()
    assert "MLOPS_SECRET_HASH_user_password" not in env


def test_shared_password_deploy_adds_its_overlay_and_mode(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append((cmd, kw["env"])))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    s = settings(tmp_path)
    s.shared_password = True
    stack.deploy(s)
    (cmd, env), = calls
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-c"] == [
        str(REPO / "swarm-stack.yml"), str(REPO / "swarm-stack.shared-password.yml")]
    assert env["MLOPS_HUB_LOGIN"] == "shared-password"
    secret = tmp_path / "state" / "unit" / "secrets" / "user_password"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert env["MLOPS_SECRET_HASH_user_password"] and secret.read_text() not in str(env)


def test_shared_password_with_oidc_is_refused_before_deploying(tmp_path, secret_file, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append(cmd))
    s = settings(tmp_path, secret_file, OIDC)
    s.shared_password = True
    with pytest.raises(DeployError, match="^--shared-password: not with OIDC login"):
        stack.deploy(s)
    assert calls == []


def test_the_user_password_secret_is_only_in_the_shared_password_overlay():
    import yaml

    base = yaml.safe_load((REPO / "swarm-stack.yml").read_text())
    overlay = yaml.safe_load((REPO / "swarm-stack.shared-password.yml").read_text())
    assert "user_password" not in base["secrets"]
    assert all(s["source"] != "user_password" for s in base["services"]["hub"]["secrets"])
    assert overlay["services"]["hub"]["secrets"] == [{"source": "user_password", "target": "user_password",
                                                      "mode": 0o400}]


def test_benchmarks_add_their_compose_file_last(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    s = settings(tmp_path)
    s.extra_compose_files = (REPO / "bench" / "swarm-stack.direct.yml",)
    stack.deploy(s)
    cmd, = calls
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-c"] == [
        str(REPO / "swarm-stack.yml"), str(REPO / "bench" / "swarm-stack.direct.yml")]
