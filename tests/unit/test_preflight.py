"""The CLI's preflight: stack-name rule, port checks, and which verb checks what, in which order."""

import socket
from argparse import Namespace

import pytest

from mlops_hub.deploy import preflight
from mlops_hub.deploy.doctor import port_state
from mlops_hub.deploy.preflight import PreflightError, check_port_range, check_stack_name


@pytest.mark.parametrize("name", ["mlops-hub", "cntest", "Team_1.prod", "a" * 30])
def test_valid_stack_names_pass(name):
    check_stack_name(Namespace(stack=name))


@pytest.mark.parametrize("name", ["", "-x", ".x", "a b", "a/b", "a" * 31, "ключ"])
def test_invalid_stack_names_are_named(name):
    with pytest.raises(PreflightError, match="^--stack: "):
        check_stack_name(Namespace(stack=name))


def test_port_range_names_the_flag():
    with pytest.raises(PreflightError, match="^--http-port: 65536 is out of range"):
        check_port_range(Namespace(https_port=8443, http_port=65536))
    check_port_range(Namespace(https_port=1, http_port=65535))


def test_a_listening_port_is_in_use_and_a_closed_one_is_not():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_state(port) == "in use"
    assert port_state(port) == "free"


def test_every_verb_checks_files_before_docker_and_build_needs_no_swarm():
    steps = preflight.STEPS
    assert preflight.check_swarm not in steps["build"]
    for verb in ("up", "down", "status"):
        assert steps[verb].index(preflight.check_docker_cli) < steps[verb].index(preflight.check_swarm)
    up = steps["up"]
    assert up.index(preflight.check_platform_config) < up.index(preflight.check_docker_cli)
    assert up.index(preflight.check_oidc_access) < up.index(preflight.check_docker_cli)
    assert up[-1] is preflight.check_ports_free


def test_steps_run_in_order_and_stop_at_the_first_failure():
    ran = []

    def fails(args):
        ran.append("fails")
        raise PreflightError("x: wrong")

    with pytest.raises(PreflightError, match="x: wrong"):
        steps = [lambda a: ran.append("first"), fails, lambda a: ran.append("never")]
        preflight.run_preflight("up", Namespace(), steps)
    assert ran == ["first", "fails"]


def test_oidc_login_names_who_may_log_in(monkeypatch):
    monkeypatch.setenv("MLOPS_OIDC_ISSUER", "https://idp.example")
    monkeypatch.delenv("MLOPS_OIDC_ALLOWED_GROUPS", raising=False)
    with pytest.raises(PreflightError, match="^MLOPS_OIDC_ALLOWED_GROUPS: required.*--oidc-allow-everyone"):
        preflight.check_oidc_access(Namespace(oidc_allow_everyone=False))
    preflight.check_oidc_access(Namespace(oidc_allow_everyone=True))
    monkeypatch.setenv("MLOPS_OIDC_ALLOWED_GROUPS", "ml/risk-models")
    preflight.check_oidc_access(Namespace(oidc_allow_everyone=False))
    monkeypatch.delenv("MLOPS_OIDC_ISSUER")
    preflight.check_oidc_access(Namespace(oidc_allow_everyone=False))  # password login: nothing to say
