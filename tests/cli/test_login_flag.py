"""`mlops-hub up --shared-password`: the warning at every `up`, refused with OIDC; none without the flag."""

from __future__ import annotations

from .test_bad_input import STACK, assert_one_line_refusal, calls, recording_real_docker, run_cli

WARNING = "mlops-hub: warning: --shared-password: anyone who has the one user password can log in under any"


def test_shared_password_up_warns_before_anything_else(tmp_path):
    env, log = recording_real_docker(tmp_path)
    # a bad port stops this `up` in its checks, before any build or deploy: the warning still came first
    proc = run_cli("up", "--stack", STACK, "--shared-password", "--port", "70000", env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(WARNING), lines
    assert "another user's, or a quota manager's" in lines[0] and "docs/accounts.md" in lines[0]
    assert lines[1:] == ["mlops-hub: --port: 70000 is out of range; allowed 1-65535"]
    assert calls(log) == []


def test_up_without_the_flag_says_nothing_of_shared_passwords(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("up", "--stack", STACK, "--port", "70000", env=env)
    assert_one_line_refusal(proc, "--port: 70000 is out of range", log=log)
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
