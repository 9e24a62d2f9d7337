"""`mlops-hub status` and `logs` against the shared test stack, and `up`'s wait on a service that keeps
restarting (a throw-away service of this test, read by the same code `up` uses)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import docker
import pytest

from mlops_hub.cli import stack_observer
from mlops_hub.deploy import swarmread
from mlops_hub.deploy.progress import wait_for_services
from mlops_hub.deploy.shell import DeployError
from mlops_hub.names import LABEL_CPU, LABEL_ENVIRONMENT, LABEL_MEM, LABEL_PREFIX_KEY, LABEL_ROLE, LABEL_USER

from .conftest import REPO

pytestmark = pytest.mark.swarm


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_hub.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


@pytest.fixture
def all_healthy(hub, stack_settings):
    """Every service of the shared stack healthy (MLflow may still start after the hub answers)."""
    return wait_for_services(stack_settings.stack, stack_observer(stack_settings.stack), swarmread.last_log_lines,
                             budget=240, out=sys.stderr)


def throwaway_service(image: str, name: str, command: str, labels: dict | None = None) -> str:
    client = docker.from_env()
    client.services.create(image, ["sh", "-c", command], name=name, labels=labels or {},
                           restart_policy=docker.types.RestartPolicy("any", delay=1_000_000_000))
    return name


def remove_service(name: str) -> None:
    subprocess.run(["docker", "service", "rm", name], capture_output=True)


def test_status_shows_every_service_healthy_with_restarts_nodes_and_pools(all_healthy, stack_settings):
    stack = stack_settings.stack
    proc = cli("status", "--stack", stack, "--state-dir", str(stack_settings.state_dir))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    services = out.split("services (restarts: ended tasks in Swarm's task history):\n")[1].split("\n\n")[0]
    rows = [line.split() for line in services.splitlines()]
    assert rows[0] == ["SERVICE", "STATE", "RESTARTS", "DETAIL"]
    names = {s["Spec"]["Name"].removeprefix(f"{stack}_") for s in swarmread.stack_services(stack)}
    assert {"hub", "edge", "db", "mlflow", "proxy"} <= names
    assert {r[0] for r in rows[1:]} == names  # whatever the stack file holds
    assert all(r[1] == "healthy" and r[2].isdigit() for r in rows[1:]), services
    nodes = out.split("nodes:\n")[1].split("\n\n")[0].splitlines()
    hostname = subprocess.run(["docker", "info", "--format", "{{.Name}}"], capture_output=True, text=True).stdout
    assert nodes[0].split() == ["NODE", "ROLE", "AVAILABILITY", "STATE", "CPUS", "CPUS", "FREE", "MEMORY", "MEMORY",
                                "FREE", "LABELS"]
    assert any(line.split()[:5] == [hostname.strip(), "manager", "(leader)", "active", "ready"]
               for line in nodes[1:]), nodes
    # the live role limits came through the hub's quota API (the test platform's roles)
    pools = out.split("pools per role:\n")[1]
    assert "limits: see the quota page" not in pools, pools
    assert {line.split()[0] for line in pools.splitlines()[1:-1]} >= {"analysts", "scientists", "big"}
    assert "TLS certificate: valid until" in out  # the output it had before


def test_logs_hub_prints_the_hubs_log_lines(hub, stack_settings):
    proc = cli("logs", "hub", "--stack", stack_settings.stack, "--tail", "50")
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert lines and all(line.startswith(f"{stack_settings.stack}_hub.") for line in lines), lines[:5]
    assert any("JupyterHub" in line or "[I " in line for line in lines), lines[-10:]


def test_status_and_logs_find_a_users_server_by_its_labels(hub, stack_settings, images):
    """A stand-in user server: a service with the labels the spawner writes (a role no test uses)."""
    stack, user = stack_settings.stack, f"ops-{uuid.uuid4().hex[:6]}"
    labels = {LABEL_PREFIX_KEY: stack_settings.prefix, LABEL_USER: user, LABEL_ROLE: "ops-status-probe",
              LABEL_ENVIRONMENT: "python", LABEL_CPU: "0.25", LABEL_MEM: str(256 * 1024**2)}
    name = throwaway_service(images["base"], f"{stack_settings.prefix}-{user}",
                             f"echo hello from {user}; exec sleep 300", labels)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc = cli("logs", user, "--stack", stack, "--tail", "5")
            if f"hello from {user}" in proc.stdout:
                break
            time.sleep(1)
        assert proc.returncode == 0 and f"hello from {user}" in proc.stdout, (proc.stdout, proc.stderr)
        out = cli("status", "--stack", stack, "--state-dir", str(stack_settings.state_dir)).stdout
        servers = out.split("user servers:\n")[1].split("\n\n")[0].splitlines()
        row = next(line.split() for line in servers if line.split()[0] == user)
        assert row[1:6] == ["(default)", "ops-status-probe", "python", "0.25", "256M"] and row[-1] == name
        pools = out.split("pools per role:\n")[1].splitlines()
        assert next(line.split() for line in pools if line.startswith("ops-status-probe")) == \
            ["ops-status-probe", "1", "0.25", "256M", "-"]
    finally:
        remove_service(name)
    unknown = cli("logs", "nobody-here", "--stack", stack)
    assert unknown.returncode == 2 and unknown.stdout == "", unknown
    line, = unknown.stderr.strip().splitlines()
    assert line.startswith(f"mlops-hub: logs: 'nobody-here' is neither a service of stack {stack} nor a user with a"
                           " server; services: "), line
    listed = line.split("services: ")[1].split(";")[0].split(", ")
    assert listed == sorted(s["Spec"]["Name"].removeprefix(f"{stack}_") for s in swarmread.stack_services(stack))

def test_a_service_that_keeps_restarting_stops_the_wait_naming_it_with_its_last_log_lines(stack_settings, images):
    stack = f"ops-crash-{uuid.uuid4().hex[:6]}"  # not a deployed stack: only this service carries the name
    name = throwaway_service(images["base"], f"{stack}_crasher", "echo 'config broken: no such file'; exit 3")
    try:
        def observe():
            services = swarmread._inspect("service", [name])
            return swarmread.observe_services(services, lambda s: swarmread.short_name(stack, s))

        with pytest.raises(DeployError) as e:
            wait_for_services(stack, observe, swarmread.last_log_lines, budget=120, out=sys.stderr, poll=1)
    finally:
        remove_service(name)
    text = str(e.value)
    assert text.startswith(f"stack {stack}: crasher keeps failing"), text  # the restarts, not the budget
    assert "  crasher: restarting (" in text and "non-zero exit (3)" in text, text
    assert f"last log lines of {name}:" in text and "config broken: no such file" in text, text
