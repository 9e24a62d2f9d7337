"""`mlops-hub logs` and `up --wait`: a mistake in their arguments is one line naming it, exit 2, nothing run."""

from __future__ import annotations

import pytest

from .test_bad_input import STACK, assert_one_line_refusal, calls, recording_real_docker, run_cli


@pytest.mark.parametrize(("args", "expected"), [
    ([], "the following arguments are required: SERVICE|USER"),
    (["hub", "--tail", "many"], "argument --tail: expected a whole number >= 0, got 'many'"),
    (["hub", "--tail", "-3"], "argument --tail: expected a whole number >= 0, got '-3'"),
    (["hub", "extra"], "unrecognized arguments: extra"),
])
def test_logs_argument_mistakes_are_named(tmp_path, args, expected):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("logs", "--stack", STACK, *args, env=env)
    assert_one_line_refusal(proc, expected, "--help)", log=log)
    assert calls(log) == []


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_up_wait_must_be_a_positive_number_of_seconds(tmp_path, value):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("up", "--stack", STACK, "--wait", value, env=env)
    assert_one_line_refusal(proc, f"argument --wait: expected a number of seconds > 0, got '{value}'", log=log)
    assert calls(log) == []


def test_logs_checks_the_stack_name_before_docker(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("logs", "hub", "--stack", "bad name", env=env)
    assert_one_line_refusal(proc, "--stack", "not a valid stack name", log=log)
    assert calls(log) == []


def test_logs_without_docker_says_how_to_install_it(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("logs", "hub", env={"PATH": str(tmp_path / "empty")})
    assert_one_line_refusal(proc, "docker: no `docker` command on PATH", "scripts/host-setup.sh")


def test_logs_of_a_stack_that_is_not_deployed_says_so(tmp_path):
    env, log = recording_real_docker(tmp_path)
    proc = run_cli("logs", "hub", "--stack", "opsnothere", env=env)
    assert_one_line_refusal(proc, "logs: stack opsnothere has no services", "mlops-hub status --stack opsnothere")
    assert not [c for c in calls(log) if c.startswith("service logs")], calls(log)
