"""Checks the CLI runs before it builds or deploys anything: each failure is one line naming the fix.

Every verb runs its list of steps in order (`STEPS`); a later step may rely on an earlier one
(the swarm check needs a daemon that answers). `up` checks platform.yaml's content with the hub's
own start-up check, after the file checks and before anything is built.
"""

from __future__ import annotations

import os
import re
import sys
from argparse import Namespace
from collections.abc import Callable, Sequence
from pathlib import Path

from ..policy.errors import ConfigError
from ..policy.platform import load_platform_file
from . import doctor
from .doctor import FAIL, WARN, Finding
from .shell import DeployError
from .stack import SHARED_PASSWORD_WARNING, oidc_access_error
from .tls import given_certificate

# Docker's object-name rule; 30 characters keep `<stack>_jupyterhub_db_password` and the user
# servers' `<stack>-lab-<user>` service names inside Docker's 63/64-character limits
STACK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,29}")


class PreflightError(DeployError):
    """A user mistake or a missing prerequisite, found before anything was built or deployed."""


Step = Callable[[Namespace], None]


def check_stack_name(args: Namespace) -> None:
    name = args.stack
    if not STACK_NAME.fullmatch(name):
        raise PreflightError(
            f"--stack: {name!r} is not a valid stack name; use 1-30 letters, digits, '-', '_' or '.',"
            " starting with a letter or digit")


def readable_file(flag: str, path: str | os.PathLike | None) -> None:
    """`path` is an existing, readable regular file; otherwise PreflightError naming `flag`."""
    if path is None:
        return
    p = Path(path)
    if not p.exists():
        raise PreflightError(f"{flag}: {p} does not exist")
    if not p.is_file():
        raise PreflightError(f"{flag}: {p} is not a regular file")
    try:
        with p.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise PreflightError(f"{flag}: cannot read {p} ({e.strerror})") from None


def check_ca_bundle(args: Namespace) -> None:
    readable_file("--ca-bundle (or MLOPS_HUB_CA_BUNDLE)", args.ca_bundle)


def check_platform_config(args: Namespace) -> None:
    readable_file("--platform-config", getattr(args, "platform_config", None))


def check_platform_settings(args: Namespace) -> None:
    """The hub's own start-up check of platform.yaml's content (keys, roles, environments, units)."""
    path = getattr(args, "platform_config", None) or getattr(args, "default_platform_config", None)
    if not path:
        return
    setting_names = getattr(args, "spawner_setting_names", None)
    try:
        load_platform_file(Path(path), setting_names() if callable(setting_names) else None)
    except ConfigError as e:
        raise PreflightError(str(e)) from None


def check_hub_ca_cert(args: Namespace) -> None:
    readable_file("--ca-cert", getattr(args, "ca_cert", None))


def check_oidc_secret_file(args: Namespace) -> None:
    readable_file("--oidc-client-secret-file", getattr(args, "oidc_client_secret_file", None))


def check_oidc_access(args: Namespace) -> None:
    """OIDC login names who may log in: MLOPS_OIDC_ALLOWED_GROUPS, or --oidc-allow-everyone."""
    refusal = oidc_access_error(os.environ, bool(getattr(args, "oidc_allow_everyone", False)))
    if refusal:
        raise PreflightError(refusal)


def check_login_mode(args: Namespace) -> None:
    """`--shared-password` is refused with OIDC; otherwise it is warned about, at every `up`."""
    if not getattr(args, "shared_password", False):
        return
    if os.environ.get("MLOPS_OIDC_ISSUER"):
        raise PreflightError("--shared-password: not with OIDC login (MLOPS_OIDC_ISSUER is set); the provider"
                             " logs people in")
    print(f"mlops-hub: {SHARED_PASSWORD_WARNING}", file=sys.stderr, flush=True)


def check_port_range(args: Namespace) -> None:
    for flag, port in _ports(args):
        if not 1 <= port <= 65535:
            raise PreflightError(f"{flag}: {port} is out of range; allowed 1-65535")
    if len({port for _, port in _ports(args)}) < len(_ports(args)):
        raise PreflightError("--https-port / --http-port: must differ")


def _ports(args: Namespace) -> list[tuple[str, int]]:
    return [(flag, getattr(args, attr)) for flag, attr in (("--https-port", "https_port"), ("--http-port", "http_port"))
            if getattr(args, attr, None) is not None]


def check_tls_files(args: Namespace) -> None:
    """The operator's certificate and key: both or neither, readable, a matching, unexpired pair."""
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if not (cert or key):
        return
    if not (cert and key):
        raise PreflightError("--tls-cert and --tls-key: give both, or neither for a certificate from the local CA")
    readable_file("--tls-cert", cert)
    readable_file("--tls-key", key)
    try:
        given_certificate(Path(cert), Path(key))
    except DeployError as e:
        raise PreflightError(str(e)) from None


def require(finding: Finding) -> None:
    """A failed check stops the verb (one line: what and the fix); a warning is said and passed."""
    if finding.status == FAIL:
        raise PreflightError(finding.refusal)
    if finding.status == WARN:
        print(f"mlops-hub: warning: {finding.refusal}", file=sys.stderr, flush=True)


def check_docker_cli(args: Namespace) -> None:
    require(doctor.check_docker_cli())


def check_daemon(args: Namespace) -> None:
    require(doctor.check_daemon())


def check_swarm(args: Namespace) -> None:
    require(doctor.check_swarm())


def check_nodes(args: Namespace) -> None:
    """The largest server a role allows fits on some node (else it could never start)."""
    path = getattr(args, "platform_config", None) or getattr(args, "default_platform_config", None)
    if path:
        require(doctor.check_nodes(Path(path)))


def check_disk(args: Namespace) -> None:
    for finding in doctor.check_disks(Path(args.state_dir)):
        require(finding)


def check_ports_free(args: Namespace) -> None:
    require(doctor.check_ports(args.stack, _ports(args)))


DOCKER_STEPS: tuple[Step, ...] = (check_docker_cli, check_daemon)
STEPS: dict[str, tuple[Step, ...]] = {
    "build": (check_ca_bundle, *DOCKER_STEPS),
    "up": (
        check_login_mode, check_stack_name, check_port_range, check_tls_files, check_ca_bundle,
        check_platform_config, check_platform_settings, check_oidc_secret_file, check_oidc_access,
        *DOCKER_STEPS, check_swarm, check_nodes, check_disk, check_ports_free,
    ),
    "down": (check_stack_name, *DOCKER_STEPS, check_swarm),
    "status": (check_stack_name, *DOCKER_STEPS, check_swarm),
    "logs": (check_stack_name, *DOCKER_STEPS, check_swarm),
    "nodes": (*DOCKER_STEPS, check_swarm),
    # doctor reports the docker checks itself; these are mistakes in its arguments
    "doctor": (check_stack_name, check_port_range, check_platform_config, check_platform_settings),
    "db": (check_stack_name, *DOCKER_STEPS, check_swarm),
    "home": (check_stack_name, check_platform_config, *DOCKER_STEPS, check_swarm),
    # talks to the hub's REST API only: no Docker here (a CI runner has none)
    "model": (check_hub_ca_cert,),
}


def run_preflight(verb: str, args: Namespace, steps: Sequence[Step] | None = None) -> None:
    """Run the verb's checks in order; the first failure raises PreflightError."""
    for step in STEPS[verb] if steps is None else steps:
        step(args)
