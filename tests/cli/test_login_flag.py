"""`mlops-hub up --shared-password`: the warning at every `up`, refused with OIDC; none without the flag."""

from __future__ import annotations

from .test_bad_input import STACK, assert_one_line_refusal, calls, recording_real_docker, run_cli

WARNING = "mlops-hub: warning: --shared-password: anyone who has the one user password can log in under any"


def test_shared_password_up_warns_before_anything_else(tmp_path):
    env, log = recording_real_docker(tmp_path)
    # a bad port stops this `up` in its checks, before any build or deploy: the warning still came first
    proc = run_cli("up", "--stack", STACK, "--shared-password", "--https-port", "70000", env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(WARNING), lines
    assert "another user's, or a quota manager's" in lines[0] and "docs/accounts.md" in lines[0]
    assert lines[1:] == ["mlops-hub: --https-port: 70000 is out of range; allowed 1-65535"]
    assert calls(log) == []


def test_up_without_the_flag_says_nothing_of_shared_passwords(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("up", "--stack", STACK, "--https-port", "70000", env=env)
    assert_one_line_refusal(proc, "--https-port: 70000 is out of range", log=log)
    assert "shared" not in proc.stderr


def test_shared_password_with_oidc_is_refused(tmp_path):
    env, log = recording_real_docker(tmp_path)
    env["MLOPS_OIDC_ISSUER"] = "https://keycloak.example/realms/ml"
    proc = run_cli("up", "--stack", STACK, "--shared-password", env=env)
    assert_one_line_refusal(proc, "--shared-password: not with OIDC login (MLOPS_OIDC_ISSUER is set)", log=log)
    assert calls(log) == []


def test_help_calls_the_flag_dangerous():
    proc = run_cli("up", "--help")
    assert proc.returncode == 0
    assert "--shared-password" in proc.stdout and "DANGEROUS" in proc.stdout


def summary(tmp_path, monkeypatch, *, shared=False, new=False, admins=None) -> str:
    from mlops_hub.cli import login_lines
    from mlops_hub.deploy.stack import StackSettings

    monkeypatch.delenv("MLOPS_OIDC_ISSUER", raising=False)
    if admins:
        monkeypatch.setenv("MLOPS_HUB_ADMIN_USERS", admins)
    else:
        monkeypatch.delenv("MLOPS_HUB_ADMIN_USERS", raising=False)
    settings = StackSettings(repo=tmp_path, stack="s1", state_dir=tmp_path, shared_password=shared)
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    (settings.secrets_dir / "admin_password").write_text("generated-admin-pw\n")
    return login_lines(settings, oidc=False, new_admin_password=new)


def test_up_summary_shows_the_admin_password_only_when_it_was_just_generated(tmp_path, monkeypatch):
    first = summary(tmp_path, monkeypatch, new=True)
    assert "user 'admin', password generated-admin-pw" in first and "shown this once" in first
    assert "/hub/signup" in first and "/hub/authorize" in first
    later = summary(tmp_path, monkeypatch)
    assert "generated-admin-pw" not in later
    assert f"its first password is in {tmp_path / 's1' / 'secrets' / 'admin_password'}" in later
    assert "docs/accounts.md" in later and "any user name" not in later
    assert "user 'root-ann'" in summary(tmp_path, monkeypatch, admins="root-ann,bob")


def test_up_summary_of_a_shared_password_stack_repeats_the_warning(tmp_path, monkeypatch):
    text = summary(tmp_path, monkeypatch, shared=True)
    assert "any user name,  password: cat" in text and "warning: --shared-password" in text
    assert "generated-admin-pw" not in text


def merged_stack(tmp_path, shared: bool) -> dict:
    """The stack as Docker itself merges the compose files `up` would deploy (`docker stack config`)."""
    import subprocess

    import yaml

    from mlops_hub.deploy.stack import StackSettings, login_overlay, stack_env

    from .test_bad_input import REPO

    settings = StackSettings(repo=REPO, stack="s1", state_dir=tmp_path, shared_password=shared)
    env = stack_env(settings)
    env.pop("MLOPS_OIDC_ISSUER", None)
    overlays, _ = login_overlay(settings, env)
    files = [str(REPO / "swarm-stack.yml"), *overlays]
    proc = subprocess.run(["docker", "stack", "config", *[a for f in files for a in ("-c", f)]], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_docker_merges_the_shared_password_overlay_into_the_hub(tmp_path):
    stack = merged_stack(tmp_path, shared=True)
    hub = stack["services"]["hub"]
    assert hub["environment"]["MLOPS_HUB_LOGIN"] == "shared-password"
    assert {s["source"] for s in hub["secrets"]} >= {"admin_password", "user_password"}
    default = merged_stack(tmp_path / "default", shared=False)
    assert default["services"]["hub"]["environment"]["MLOPS_HUB_LOGIN"] == "accounts"
    assert "user_password" not in default["secrets"]
    assert all(s["source"] != "user_password" for s in default["services"]["hub"]["secrets"])
