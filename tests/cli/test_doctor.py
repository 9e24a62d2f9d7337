"""`mlops-hub doctor` run as a user runs it, against this machine's real Docker (the overlay probe is
tested in tests/integration/test_doctor_probe.py; here --no-probe keeps these quick)."""

from __future__ import annotations

import re
import socket

from mlops_hub.deploy.stack import ensure_secrets
from tests.support.ports import free_port

from .test_bad_input import STACK, assert_one_line_refusal, calls, recording_real_docker, run_cli

CHECKS = ("docker", "swarm", "nodes", "images", "environments", "ports", "secrets",
          "disk (Docker's images and volumes)", "disk (state dir)", "clock", "CPU weight", "overlay", "nodes (each)")
LINE = re.compile(r"^(ok  |WARN|FAIL|skip)  (.+)$")


def doctor(tmp_path, *args: str, env: dict | None = None):
    return run_cli("doctor", "--stack", STACK, "--state-dir", str(tmp_path / "state"), "--https-port",
                   str(free_port()), "--http-port", str(free_port()), "--no-probe", *args, env=env)


def check_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """Check name -> (mark, the fix line or '') from doctor's output."""
    lines = stdout.splitlines()
    found = {}
    for i, line in enumerate(lines[:-1]):
        match = LINE.match(line)
        if match:
            name = next(c for c in CHECKS if match.group(2).startswith(f"{c}:"))
            fix = lines[i + 1].strip() if lines[i + 1].startswith("      fix: ") else ""
            found[name] = (match.group(1).strip(), fix)
    return found


def test_doctor_on_this_machine_reports_every_check_and_exits_by_its_failures(tmp_path):
    proc = doctor(tmp_path)
    assert "Traceback" not in proc.stderr
    found = check_lines(proc.stdout)
    assert set(found) == set(CHECKS), proc.stdout
    # the test machine runs a daemon and a single-node swarm with room for config/platform.yaml's roles, set up
    # by scripts/host-setup.sh (which also weighs the containers' cgroup)
    for name in ("docker", "swarm", "nodes", "ports", "clock", "CPU weight"):
        assert found[name] == ("ok", ""), proc.stdout
    assert found["secrets"] == ("WARN", f"fix: mlops-hub up --stack {STACK} --state-dir {tmp_path / 'state'}")
    assert found["overlay"] == found["nodes (each)"] == ("skip", "")
    for mark, fix in found.values():
        assert (mark in ("ok", "skip")) == (fix == ""), proc.stdout
    failed = any(mark == "FAIL" for mark, _ in found.values())
    assert proc.returncode == (1 if failed else 0), proc.stdout
    assert re.fullmatch(r"doctor: \d+ ok, \d+ warning\(s\), \d+ failure\(s\), 2 not checked.*",
                        proc.stdout.splitlines()[-1])


def test_a_daemon_that_does_not_answer_is_a_failure_with_the_fix(tmp_path):
    env, log = recording_real_docker(tmp_path)
    socket_path = tmp_path / "nobody-listens.sock"
    env["DOCKER_HOST"] = f"unix://{socket_path}"
    proc = doctor(tmp_path, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"FAIL  docker: the daemon at unix://{socket_path} does not answer"
    assert lines[1] == (f"      fix: dockerd --host unix://{socket_path} &, or unset DOCKER_HOST"
                        " (or bash scripts/host-setup.sh)")
    found = check_lines(proc.stdout)
    assert found["swarm"] == found["clock"] == found["CPU weight"] == ("skip", "")
    assert found["ports"][0] == "ok" and found["secrets"][0] == "WARN"
    assert any(c.startswith("version") for c in calls(log)), "the real docker CLI was asked"


def test_a_port_in_use_fails_naming_the_flag(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = doctor(tmp_path, "--https-port", str(port))
    assert proc.returncode == 1
    assert f"FAIL  ports: --https-port: port {port} is already in use on this host" in proc.stdout
    assert check_lines(proc.stdout)["ports"][1].startswith("fix: choose another: mlops-hub up --https-port N")


def test_secrets_readable_by_others_fail_with_chmod(tmp_path):
    directory = tmp_path / "state" / STACK / "secrets"
    ensure_secrets(directory)
    (directory / "admin_password").chmod(0o644)
    proc = doctor(tmp_path)
    assert proc.returncode == 1
    assert "FAIL  secrets: readable by other users of this host: admin_password" in proc.stdout
    assert check_lines(proc.stdout)["secrets"][1] == f"fix: chmod 700 {directory} && chmod 600 {directory}/*"


def test_a_role_no_node_can_hold_fails_naming_the_role(tmp_path):
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  role_policies:\n    default: {max_cpu: 1, max_mem: 1G}\n"
                        "    gpu-team: {max_cpu: 1000, max_mem: 2G}\n")
    proc = doctor(tmp_path, "--platform-config", str(platform))
    assert proc.returncode == 1
    assert "FAIL  nodes: role 'gpu-team' allows servers of up to 1000 CPUs / 2G" in proc.stdout
    assert f"fix: lower max_cpu/max_mem of role 'gpu-team' in {platform}" in check_lines(proc.stdout)["nodes"][1]


def test_bad_arguments_are_one_line_and_exit_2(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("doctor", "--https-port", "70000", env=env)
    assert_one_line_refusal(proc, "--https-port: 70000 is out of range", log=log)
    proc = run_cli("doctor", "--platform-config", str(tmp_path / "missing.yaml"), env=env)
    assert_one_line_refusal(proc, "--platform-config", "does not exist", log=log)
    proc = run_cli("doctor", "--stack", "bad name", env=env)
    assert_one_line_refusal(proc, "--stack", "not a valid stack name", log=log)
    assert calls(log) == []
