"""`mlops-hub` run as a user runs it: a mistake is one line naming the flag or the fix, exit 2, nothing built.

The real entry point runs as a subprocess. A recording wrapper in front of the real `docker` shows
which docker commands ran (never `build`); only "swarm not active" and the interrupt use a fake
`docker` (a double), since this machine's swarm is shared and must stay active.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "mlops-hub")
STACK = os.environ.get("MLOPS_TEST_STACK", "mlopstest")


def docker_wrapper(directory: Path, body: str) -> Path:
    """A `docker` on PATH that records its arguments, then runs `body` (sh)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "docker-calls.log"
    script = directory / "docker"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{body}\n')
    script.chmod(0o755)
    return log


def recording_real_docker(tmp_path: Path) -> tuple[dict, Path]:
    real = shutil.which("docker")
    assert real, "these tests need the docker CLI"
    log = docker_wrapper(tmp_path / "bin", f'exec "{real}" "$@"')
    return {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}, log


def fake_docker(tmp_path: Path, body: str) -> tuple[dict, Path]:
    log = docker_wrapper(tmp_path / "bin", body)
    # the double is the only docker the CLI can find
    return {"PATH": str(tmp_path / "bin")}, log


def run_cli(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    # this checkout's code: the venv's editable install may point at another worktree
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([CLI, *args], env={**os.environ, "PYTHONPATH": pythonpath, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def assert_one_line_refusal(proc: subprocess.CompletedProcess, *expected: str, log: Path | None = None) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    # a warning about this host (low disk, clock skew) may come before the refusal; it is said and passed
    said = proc.stderr.strip().splitlines()
    lines = [line for line in said if not line.startswith("mlops-hub: warning: ")]
    assert len(lines) == 1, said
    assert lines[0].startswith("mlops-hub")
    for text in expected:
        assert text in lines[0]
    # build_all announces every step with "[mlops-hub]"; nothing may have started
    assert "[mlops-hub]" not in proc.stderr
    if log is not None:
        # reading the swarm (ports of running services) is part of the checks; changing it is not
        read_only = ("stack services", "stack ls", "service inspect", "service ls", "service ps")
        assert not [c for c in calls(log) if c.split()[:1] in (["build"], ["stack"], ["service"]) and
                    not c.startswith(read_only)], calls(log)


def test_missing_platform_config_is_named_before_docker_is_asked(tmp_path):
    env, log = recording_real_docker(tmp_path)
    missing = tmp_path / "nowhere" / "platform.yaml"
    proc = run_cli("up", "--stack", STACK, "--platform-config", str(missing), env=env)
    assert_one_line_refusal(proc, "--platform-config", str(missing), "does not exist", log=log)
    assert calls(log) == []


def test_platform_config_that_is_a_directory_is_named(tmp_path):
    proc = run_cli("up", "--stack", STACK, "--platform-config", str(tmp_path))
    assert_one_line_refusal(proc, "--platform-config", "is not a regular file")


def test_oidc_without_allowed_groups_is_refused_unless_everyone_is_allowed(tmp_path):
    env, log = recording_real_docker(tmp_path)
    # a daemon nobody runs: should the check be missing, `up` stops at the daemon check, deploying nothing
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'nobody-listens.sock'}"
    secret = tmp_path / "client_secret"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    env.update(MLOPS_OIDC_ISSUER="https://idp.example", MLOPS_OIDC_CLIENT_ID="hub",
               MLOPS_OIDC_CALLBACK_URL="https://hub.example/hub/oauth_callback", MLOPS_OIDC_ALLOWED_GROUPS="",
               MLOPS_OIDC_ALLOW_EVERYONE="1")  # in the shell, it is not the flag
    proc = run_cli("up", "--stack", STACK, "--oidc-client-secret-file", str(secret), env=env)
    assert_one_line_refusal(proc, "MLOPS_OIDC_ALLOWED_GROUPS: required", "--oidc-allow-everyone", log=log)
    assert "s3cret" not in proc.stderr and calls(log) == []
    env["MLOPS_OIDC_ALLOWED_GROUPS"] = "staff"
    proc = run_cli("up", "--stack", STACK, "--oidc-client-secret-file", str(secret), "--oidc-allow-everyone",
                   env=env)
    assert_one_line_refusal(proc, "--oidc-allow-everyone: MLOPS_OIDC_ALLOWED_GROUPS is set too", log=log)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_missing_ca_bundle_is_named_for_build_and_up(tmp_path, how):
    env, log = recording_real_docker(tmp_path)
    missing = str(tmp_path / "corp-ca.pem")
    for verb in ("build", "up"):
        if how == "flag":
            proc = run_cli(verb, "--ca-bundle", missing, env=env)
        else:
            proc = run_cli(verb, env={**env, "MLOPS_HUB_CA_BUNDLE": missing})
        assert_one_line_refusal(proc, "--ca-bundle (or MLOPS_HUB_CA_BUNDLE)", missing, log=log)
    assert calls(log) == []


@pytest.mark.parametrize("verb", ["build", "up", "down", "status"])
def test_no_docker_on_path_says_how_to_install_it(tmp_path, verb):
    (tmp_path / "empty").mkdir()
    proc = run_cli(verb, env={"PATH": str(tmp_path / "empty")})
    assert_one_line_refusal(proc, "docker: no `docker` command on PATH", "scripts/host-setup.sh")


@pytest.mark.parametrize("verb", ["build", "up", "down", "status"])
def test_daemon_that_does_not_answer_is_named_with_its_address(tmp_path, verb):
    socket_path = tmp_path / "nobody-listens.sock"
    env, log = recording_real_docker(tmp_path)
    env["DOCKER_HOST"] = f"unix://{socket_path}"
    proc = run_cli(verb, "--stack", STACK, env=env) if verb != "build" else run_cli(verb, env=env)
    assert_one_line_refusal(proc, f"docker: the daemon at unix://{socket_path} does not answer",
                            f"fix: dockerd --host unix://{socket_path} &, or unset DOCKER_HOST",
                            "(or bash scripts/host-setup.sh)", log=log)
    assert calls(log), "the real docker CLI was asked"


@pytest.mark.parametrize("verb", ["up", "down", "status"])
def test_swarm_not_active_double_says_to_init_it(tmp_path, verb):
    info = '{"ServerVersion": "20.10.24", "Swarm": {"LocalNodeState": "inactive"}}'
    env, log = fake_docker(tmp_path, f'[ "$1" = version ] && echo 20.10.24\n[ "$1" = info ] && echo \'{info}\'\nexit 0')
    proc = run_cli(verb, "--stack", STACK, env=env)
    assert_one_line_refusal(proc, "not in an active swarm (state: inactive)", "docker swarm init", log=log)
    assert any(c.startswith("info") for c in calls(log))


@pytest.mark.parametrize(("name", "why"), [
    ("bad name", "not a valid stack name"),
    ("-lead", "starting with a letter or digit"),
    ("x" * 31, "1-30 letters"),
    ("ünï", "not a valid stack name"),
])
def test_bad_stack_name_is_named_with_the_rule(tmp_path, name, why):
    env, log = recording_real_docker(tmp_path)
    for verb in ("up", "down", "status"):
        proc = run_cli(verb, f"--stack={name}", env=env)
        assert_one_line_refusal(proc, "--stack", why, log=log)
    assert calls(log) == []


@pytest.mark.parametrize(("args", "expected"), [
    (["--https-port", "70000"], "--https-port: 70000 is out of range; allowed 1-65535"),
    (["--http-port", "0"], "--http-port: 0 is out of range"),
    (["--https-port", "eighty"], "argument --https-port: invalid int value: 'eighty'"),
    (["--https-port", "8111", "--http-port", "8111"], "--https-port / --http-port: must differ"),
])
def test_bad_ports_are_named(tmp_path, args, expected):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("up", "--stack", STACK, *args, env=env)
    assert_one_line_refusal(proc, expected, log=log)


def test_port_already_in_use_is_named_before_any_build(tmp_path):
    env, log = recording_real_docker(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("up", "--stack", STACK, "--https-port", str(port), "--http-port", str(free_port()), env=env)
    assert_one_line_refusal(proc, f"--https-port: port {port} is already in use", log=log)
    assert any(c.startswith("info") for c in calls(log)), "the docker checks ran first"


def test_interrupt_double_is_one_line_and_exit_130(tmp_path):
    # the fake daemon never answers, so the CLI is waiting on docker when the user presses Ctrl-C
    env, log = fake_docker(tmp_path, f"exec {shutil.which('sleep')} 60")
    proc = subprocess.Popen([CLI, "status", "--stack", STACK], env={**os.environ, **env}, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    while not calls(log):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the CLI and its docker child
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "" and err.strip().splitlines() == ["mlops-hub: interrupted"]


def test_inline_package_index_password_is_refused_before_anything_is_built(tmp_path):
    """platform.yaml becomes a Swarm config that anyone with Docker API access can read."""
    env, log = recording_real_docker(tmp_path)
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  package_index:\n    index_url: https://pypi.corp/simple\n"
                        "    username: bot\n    password: hunter2-inline\n")
    proc = run_cli("up", "--stack", STACK, "--platform-config", str(platform), env=env)
    assert_one_line_refusal(proc, str(platform), "package_index.password: an inline password is refused",
                            "password_file", log=log)
    assert "hunter2-inline" not in proc.stderr


def test_build_env_that_platform_yaml_does_not_have_is_named_with_the_ones_it_has(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("build", "--env", "nope", env=env)
    assert_one_line_refusal(proc, "--env: nope: not an environment of", "data-science", "pyspark", log=log)


def test_build_env_whose_folder_has_no_dockerfile_is_named_before_anything_is_built(tmp_path):
    env, log = recording_real_docker(tmp_path)
    (tmp_path / "geo").mkdir()
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  environments:\n    - {slug: geo, image: site/env-geo, build: geo}\n")
    for args in (("--env", "geo"), ()):  # one environment, or all of them with the platform images
        proc = run_cli("build", "--platform-config", str(platform), *args, env=env)
        assert_one_line_refusal(proc, "environments[0].build", f"{tmp_path / 'geo'} has no Dockerfile", log=log)


def test_home_move_refuses_a_missing_platform_config_nfs_homes_and_an_unknown_node(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    proc = run_cli("home", "move", "alice", "--to", "vm", "--stack", STACK, "--platform-config", str(missing))
    assert_one_line_refusal(proc, "--platform-config", str(missing), "does not exist")
    nfs = tmp_path / "nfs.yaml"
    nfs.write_text("spawner:\n  storage:\n    backend: nfs\n    nfs: {server: 10.0.0.5, export: /srv/ml}\n")
    proc = run_cli("home", "move", "alice", "--to", "vm", "--stack", STACK, "--platform-config", str(nfs))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"mlops-hub: {nfs}: storage.backend is not local: homes on NFS are reachable from every node" in proc.stderr
    local = tmp_path / "local.yaml"
    local.write_text("spawner:\n  storage:\n    backend: local\n")
    proc = run_cli("home", "move", "alice", "--to", "no-such-node", "--stack", STACK, "--platform-config", str(local))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "mlops-hub: --to: no single node is 'no-such-node'; the swarm's nodes: " in proc.stderr


def test_model_release_without_a_token_or_with_a_missing_ca_cert_is_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_HUB_TOKEN"}
    proc = run_cli("model", "release", "churn/1", env=env)
    assert_one_line_refusal(proc, "no token: give --token-file FILE or set MLOPS_HUB_TOKEN")
    missing = tmp_path / "ca.crt"
    proc = run_cli("model", "release", "churn/1", "--ca-cert", str(missing), env=env)
    assert_one_line_refusal(proc, "--ca-cert", str(missing), "does not exist")
    empty = tmp_path / "token"
    empty.write_text("\n")
    proc = run_cli("model", "release", "churn/1", "--token-file", str(empty), env=env)
    assert_one_line_refusal(proc, f"--token-file: {empty} is empty")
