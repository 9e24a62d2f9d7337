"""The smallest memory limit the lab image survives a real session in, and its peak memory.

Runs the lab image as a Swarm service the way the spawner does (dnsrr endpoint, an overlay
network of its own, restart condition none, user 1000:100, a memory limit), with a port
published in host mode so this script can drive it. The command is plain `jupyter lab` with the
image's server extensions (the same config directory the hub's `jupyterhub-singleuser` loads):
singleuser asks the hub to check every request's token, and this script runs no hub.

A session: `/api/status` answers; `/lab` loads in headless Chromium (the frontend's own API
calls: settings, kernelspecs, workspaces, lab extensions); a python3 kernel starts in a notebook
session and runs a cell over its websocket; the server still runs afterwards. Peak memory is the
container's cgroup v1 `memory.max_usage_in_bytes` (page cache included, as the limit counts it).

First a generous limit gives the peak; then a bisection finds the smallest limit at which every
one of `--repeats` sessions survives. Prints one line per trial and a summary. Run as root on a
swarm manager with the images built (`mlops-hub build`):

    .venv/bin/python bench/min_memory.py [--repeats 3] [--resolution 8M] [--cell CODE] [--fixtures DIR]

`--fixtures DIR` also saves a task and its container's `docker inspect` (token redacted) for an
OOM-killed server and for a server killed with SIGKILL, as the unit tests' fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.errors import APIError, NotFound
from docker.types import EndpointSpec, Resources, RestartPolicy
from playwright.sync_api import Error as PlaywrightError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops_hub.policy.units import format_memory, parse_memory  # noqa: E402
from tests.integration import browser  # noqa: E402
from tests.support.lab_session import run_cell, start_kernel  # noqa: E402

MiB = 1024**2
# the smallest cell: the server and a kernel, nothing imported; per kernel, each printing 499999500000
CELLS = {"python3": "print(sum(range(10**6)))", "ir": "cat(format(sum(as.numeric(0:999999)), scientific = FALSE))"}
ENDED = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}


@dataclass
class Trial:
    limit: int
    survived: bool
    stage: str  # the session step reached: start, lab, kernel, done
    peak: int  # memory.max_usage_in_bytes
    rss: int  # total_rss at the end (or when it died)
    failcnt: int  # times usage hit the limit (reclaim, not necessarily OOM)
    exit_code: int | None
    oom_killed: bool | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_image(client: docker.APIClient) -> str:
    """The lab image `mlops-hub build` tagged last."""
    return client.inspect_image("mlops-hub/lab-base:latest")["Id"]


class LabService:
    """One lab server as a Swarm service, named with the bench prefix and removed on exit."""

    def __init__(self, client, image: str, network: str, name: str, limit: int):
        self.client, self.name, self.limit = client, name, limit
        self.port, self.token = free_port(), secrets.token_hex(16)
        container = docker.types.ContainerSpec(
            image, command=["jupyter", "lab", "--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888",
                            "--no-browser", f"--IdentityProvider.token={self.token}"],
            user="1000:100")
        task = docker.types.TaskTemplate(container, resources=Resources(mem_limit=limit),
                                         restart_policy=RestartPolicy("none"), networks=[network])
        client.create_service(task, name=name, labels={"mlops-hub.bench": "min-memory"},
                              endpoint_spec=EndpointSpec(mode="dnsrr", ports={self.port: (8888, "tcp", "host")}))
        self.base = f"http://127.0.0.1:{self.port}/"
        self.headers = {"Authorization": f"token {self.token}"}

    def task(self) -> dict | None:
        tasks = self.client.tasks(filters={"service": self.name})
        return max(tasks, key=lambda t: t["Version"]["Index"]) if tasks else None

    def container_id(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.task()
            status = (task or {}).get("Status", {})
            cid = status.get("ContainerStatus", {}).get("ContainerID")
            if cid and status.get("State") in ({"running"} | ENDED):
                return cid
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no container after {timeout}s: {status}")

    def ended(self) -> bool:
        return (self.task() or {}).get("Status", {}).get("State") in ENDED

    def remove(self) -> None:
        try:
            self.client.remove_service(self.name)
        except NotFound:
            pass


def cgroup_dir(client: docker.APIClient, container: str) -> Path:
    """The container's cgroup v1 memory directory, from its main process's /proc entry."""
    pid = client.inspect_container(container)["State"]["Pid"]
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    raise RuntimeError(f"no memory cgroup for pid {pid}")


def read_memory(cgroup: Path) -> tuple[int, int, int]:
    stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
    return (int((cgroup / "memory.max_usage_in_bytes").read_text()), int(stat["total_rss"]),
            int((cgroup / "memory.failcnt").read_text()))


def drive_session(lab: LabService, chromium, cell: str, kernel: str) -> str:
    """The last stage reached: 'done' when the whole session ran."""
    deadline = time.monotonic() + 120
    while True:
        if lab.ended():
            return "start"
        try:
            if requests.get(lab.base + "api/status", headers=lab.headers, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            return "start"
        time.sleep(0.1)
    page = chromium.new_context().new_page()
    try:
        page.goto(f"{lab.base}lab?token={lab.token}", timeout=90_000)
        page.wait_for_selector(".jp-LauncherCard", timeout=90_000)  # the launcher: the lab has rendered
    except PlaywrightError as e:
        print(f"  lab: {e}", file=sys.stderr, flush=True)
        return "lab"
    finally:
        page.context.close()
    try:
        channels = start_kernel(lab.base, lab.headers, kernel)
        # Playwright's sync API keeps an event loop on this thread: run the websocket on another
        with ThreadPoolExecutor(1) as pool:
            output = pool.submit(asyncio.run, run_cell(channels, lab.headers, cell + "\n" + CELLS[kernel])).result()
        if "499999500000" not in output:
            print(f"  kernel: unexpected output {output!r}", file=sys.stderr, flush=True)
            return "kernel"
    except Exception as e:
        print(f"  kernel: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return "kernel"
    time.sleep(1)  # a server killed at the end of the cell shows as ended by now
    return "start" if lab.ended() else "done"


def trial(client, image: str, network: str, prefix: str, limit: int, chromium, n: int,
          fixtures: Path | None, cell: str, kernel: str = "python3") -> Trial:
    lab = LabService(client, image, network, f"{prefix}-lab-{n}", limit)
    try:
        container = lab.container_id()
        try:
            cgroup = cgroup_dir(client, container)
        except (KeyError, FileNotFoundError, RuntimeError):
            cgroup = None  # died before we could look
        stage = drive_session(lab, chromium, cell, kernel)
        peak, rss, failcnt = read_memory(cgroup) if cgroup and cgroup.exists() else (limit, 0, 0)
        if stage == "done" and fixtures is not None and not (fixtures / "task-sigkill.json").exists():
            client.kill(container, "SIGKILL")  # a SIGKILL that is not the OOM killer: exit 137 too
            wait_ended(lab)
            save_fixture(fixtures, "sigkill", lab, client, container)
        if stage != "done":
            wait_ended(lab)
        state = inspect_or_none(client, container)
        oom = state["State"]["OOMKilled"] if state else None
        exit_code = ((lab.task() or {}).get("Status", {}).get("ContainerStatus") or {}).get("ExitCode")
        if stage != "done" and oom and fixtures is not None and not (fixtures / "task-oom.json").exists():
            save_fixture(fixtures, "oom", lab, client, container)
        return Trial(limit, stage == "done", stage, peak, rss, failcnt, exit_code, oom)
    finally:
        lab.remove()
        time.sleep(1)  # let the container go before the next one


def wait_ended(lab: LabService, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not lab.ended() and time.monotonic() < deadline:
        time.sleep(0.1)


def inspect_or_none(client, container: str) -> dict | None:
    try:
        return client.inspect_container(container)
    except NotFound:
        return None


def save_fixture(folder: Path, kind: str, lab: LabService, client, container: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in (("task", lab.task()), ("container", client.inspect_container(container))):
        text = json.dumps(value, indent=1, sort_keys=True).replace(lab.token, "<token>")
        (folder / f"{name}-{kind}.json").write_text(text + "\n")


def show(t: Trial) -> None:
    print(f"limit {format_memory(t.limit):>6}  {'survived' if t.survived else 'DIED at ' + t.stage:<16}"
          f" peak {t.peak / MiB:7.1f} MiB  rss {t.rss / MiB:6.1f} MiB  failcnt {t.failcnt:>6}"
          f"  exit {t.exit_code}  OOMKilled {t.oom_killed}", flush=True)


def survives(run, limit: int, repeats: int) -> bool:
    for _ in range(repeats):
        t = run(limit)
        show(t)
        if not t.survived:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="lab image (default: mlops-hub/lab-base:latest)")
    parser.add_argument("--prefix", default="oomtest-bench", help="name prefix of the network and services")
    parser.add_argument("--repeats", type=int, default=3, help="sessions that must all survive a limit")
    parser.add_argument("--resolution", default="8M", help="bisection step")
    parser.add_argument("--generous", default="2G", help="limit for measuring the unconstrained peak")
    parser.add_argument("--low", default="64M", help="a limit expected to fail (checked)")
    parser.add_argument("--cell", default="", help="code the kernel runs first, e.g. 'import mlflow, pandas'")
    parser.add_argument("--kernel", default="python3", choices=sorted(CELLS),
                        help="the kernel the session starts (ir: an R environment's)")
    parser.add_argument("--fixtures", type=Path, help="save OOM and SIGKILL task/container dicts here")
    args = parser.parse_args()
    client = docker.APIClient()
    image = args.image or lab_image(client)
    step, generous, low = parse_memory(args.resolution), parse_memory(args.generous), parse_memory(args.low)
    network = f"{args.prefix}-net"
    try:
        client.create_network(network, driver="overlay", attachable=True, labels={"mlops-hub.bench": "min-memory"})
    except APIError as e:
        if e.response is None or e.response.status_code != 409:
            raise
    playwright, chromium = browser.launch()
    counter = iter(range(10**6))

    def run(limit: int) -> Trial:
        return trial(client, image, network, args.prefix, limit, chromium, next(counter), args.fixtures, args.cell,
                     args.kernel)

    try:
        print(f"image {image}  command: jupyter lab (image's server extensions)"
              f"  kernel: {args.kernel}  cell: {args.cell or '(none)'}; {CELLS[args.kernel]}", flush=True)
        peaks = []
        for _ in range(args.repeats):
            t = run(generous)
            show(t)
            if not t.survived:
                raise SystemExit(f"the session fails even at {format_memory(generous)}")
            peaks.append(t.peak)
        if survives(run, low, 1):
            raise SystemExit(f"{format_memory(low)} survives: pass a lower --low")
        high = -(-max(peaks) // step) * step  # the peak, rounded up to the step
        while not survives(run, high, args.repeats):
            low, high = high, high + 4 * step
        while high - low > step:
            mid = (low + high) // 2 // step * step
            if survives(run, mid, args.repeats):
                high = mid
            else:
                low = mid
        print(f"peak at {format_memory(generous)}: {max(peaks) / MiB:.1f} MiB"
              f" (runs: {', '.join(f'{p / MiB:.1f}' for p in peaks)})")
        print(f"smallest surviving limit: {format_memory(high)} ({args.repeats} of {args.repeats} sessions);"
              f" {format_memory(low)} failed")
    finally:
        chromium.close()
        playwright.stop()
        for service in client.services(filters={"label": "mlops-hub.bench=min-memory"}):
            if service["Spec"]["Name"].startswith(args.prefix):
                client.remove_service(service["ID"])
        try:
            client.remove_network(network)
        except APIError:
            pass  # containers still detaching; `docker network rm` it later


if __name__ == "__main__":
    main()
