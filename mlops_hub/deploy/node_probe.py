"""doctor's look at every node: a one-shot task on each ready node (a global job) pulls an image by digest from the
platform's registry, as a user's server there would, and prints that node's clock. Removed afterwards."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

NODE_PROBE_PREFIX = "mlops-doctor-nodes"
NODE_PROBE_LABEL = "mlops-hub.doctor-node-probe"
NODE_PROBE_TIMEOUT = 120.0  # a first pull of a lab image on a slow link
TERMINAL = ("Complete", "Failed", "Rejected", "Shutdown", "Orphaned")
CLOCK_SCRIPT = "import time; print(f'clock {time.time():.3f}', flush=True)"

Docker = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class NodeAnswer:
    node: str  # hostname
    state: str  # the task's: Complete, Rejected, Failed, ... ('' when the node ran no task)
    error: str = ""
    clock: float | None = None  # the node's time.time() when its task ran


@dataclass(frozen=True)
class NodeProbe:
    image: str
    answers: tuple[NodeAnswer, ...]
    started: float  # this host's time before the job was created, and after the last answer
    ended: float


_LOG_LINE = re.compile(r"^\S+@(?P<node>\S+)\s*\|\s*clock (?P<clock>\d+(?:\.\d+)?)\s*$")


def parse_clocks(logs: str) -> dict[str, float]:
    """`docker service logs` lines (`name.node.task@hostname | clock 1733200000.123`) -> hostname -> clock."""
    return {m["node"]: float(m["clock"]) for line in logs.splitlines() if (m := _LOG_LINE.match(line.strip()))}


def ready_nodes(docker: Docker) -> list[str]:
    out = docker("node", "ls", "--format", "{{.Hostname}}|{{.Status}}|{{.Availability}}").stdout
    rows = (line.split("|") for line in out.splitlines() if line.count("|") == 2)
    return [name for name, status, availability in rows if status == "Ready" and availability == "Active"]


def _tasks(docker: Docker, service: str) -> dict[str, tuple[str, str]]:
    out = docker("service", "ps", service, "--no-trunc", "--format", "{{.Node}}|{{.CurrentState}}|{{.Error}}").stdout
    found: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        node, _, rest = line.partition("|")
        state, _, error = rest.partition("|")
        found.setdefault(node, (state.split(" ")[0], error.strip()))  # newest first
    return found


def remove_node_probes(docker: Docker) -> None:
    ids = docker("service", "ls", "-q", "--filter", f"label={NODE_PROBE_LABEL}").stdout.split()
    if ids:
        docker("service", "rm", *ids)


def probe_nodes(docker: Docker, image: str, say: Callable[[str], None],
                timeout: float = NODE_PROBE_TIMEOUT) -> NodeProbe:
    """Run the clock script from `image` once on every ready node; each node's task state and clock."""
    name = f"{NODE_PROBE_PREFIX}-{secrets.token_hex(3)}"
    expected = ready_nodes(docker)
    say(f"node probe: pulling {image} and reading the clock on {len(expected)} node(s)")
    started = time.time()
    tasks: dict[str, tuple[str, str]] = {}
    try:
        created = docker("service", "create", "--detach", "--name", name, "--mode", "global-job",
                         "--label", f"{NODE_PROBE_LABEL}=1", "--restart-condition", "none",
                         "--entrypoint", "python3", image, "-c", CLOCK_SCRIPT)
        if created.returncode != 0:
            error = created.stderr.strip()[:300]
            return NodeProbe(image, tuple(NodeAnswer(n, "Rejected", error) for n in expected), started, time.time())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = _tasks(docker, name)
            if all(tasks.get(n, ("",))[0] in TERMINAL for n in expected):
                break
            time.sleep(0.5)
        clocks = parse_clocks(docker("service", "logs", "--no-task-ids", name).stdout) if tasks else {}
        ended = time.time()
        answers = tuple(NodeAnswer(n, tasks.get(n, ("", ""))[0], tasks.get(n, ("", ""))[1], clocks.get(n))
                        for n in expected)
        return NodeProbe(image, answers, started, ended)
    finally:
        remove_node_probes(docker)
        say("node probe: removed")
