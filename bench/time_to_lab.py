"""Time to JupyterLab as a person feels it: click Start -> launcher visible, in real Chromium.

Deploys two platform stacks side by side (`ebttlours` with MLOpsSwarmSpawner, `ebttlplain` with
dockerspawner's SwarmSpawner; same images, CPU/RAM, network settings). Ours also gets
bench/swarm-stack.direct.yml, which publishes its proxy on a host port: the same stack is measured
through the front door (`ours`: https, nginx) and directly (`ours-direct`: plain http to
configurable-http-proxy). Then for N users each, interleaved (the order rotates every round): log in,
open the start page, click Start and wait until JupyterLab's launcher is visible. Ours is started
from its spawn form's Start button; plain SwarmSpawner has no form, so from the home page's
"Start My Server" link - both the click that starts the spawn. Every run is a new user in a new
browser context (empty browser cache). Prints p50/p95 per contender, the ratios, the time per page
hop, the steps of ours' spawn (from the progress lines in its hub's log), and the requests JupyterLab
made while loading (count, bytes, compression, protocol, the edge's cache). Not a test: it prints numbers.

    PYTHONPATH=. .venv/bin/python bench/time_to_lab.py [--count 5] [--netns]

With --netns (root) Chromium runs in a network namespace of its own: on the Docker host it otherwise
loses its HTTP/2 connections whenever Docker adds a container's interface (see chromium_in_own_netns).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import docker
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.platform_files import one_size_platform  # noqa: E402
from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub  # noqa: E402
from tests.integration import browser  # noqa: E402
from tests.integration.dockerlogs import service_container_logs  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.integration.lab_timeline import (  # noqa: E402
    Phases,
    RequestRecord,
    Timeline,
    fill_sizes,
    lab_requests,
    path_key,
    phases,
    wait_for_launcher,
)
from tests.support.edge_ca import CA_DIR, chromium_args, trust_in_this_process  # noqa: E402

CPU, MEM = 2, "2G"
DIRECT_OVERLAY = REPO / "bench" / "swarm-stack.direct.yml"
LAUNCHER_TIMEOUT_MS = 180_000  # a spawn stuck behind other stacks' reservations, not a limit on the result
RETRIES = 2  # a run whose page load Chromium aborted (ERR_NETWORK_CHANGED) is done again


@dataclass
class Contender:
    label: str
    settings: StackSettings
    url: str = ""  # where the browser goes: the edge (settings.url) unless measured directly
    hub: HubClient | None = None
    runs: list[Phases] = field(default_factory=list)
    lab_requests: list[list[RequestRecord]] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    failed: int = 0  # runs that never showed the launcher (not in the numbers)
    aborted: list[int] = field(default_factory=list)  # per timed run: requests Chromium aborted (network change)
    last_aborted: int = 0
    hub_spawn: dict[str, float] = field(default_factory=dict)  # user -> seconds, from the hub's log
    spawn_steps: dict[str, list[float]] = field(default_factory=dict)  # step -> seconds per run (ours only)

    def __post_init__(self) -> None:
        self.url = self.url or self.settings.url


def platform_file(state: Path, lab_image: str) -> Path:
    return one_size_platform(state, lab_image, CPU, MEM, plain_too=True)


def contender(label: str, stack: str, spawner: str, port: int, images: dict[str, str], state: Path,
              direct_port: int | None = None) -> Contender:
    """A stack; with direct_port its proxy is also published there (bench/swarm-stack.direct.yml)."""
    extra = {"extra_compose_files": (DIRECT_OVERLAY,),
             "extra_env": {"MLOPS_BENCH_DIRECT_PORT": str(direct_port)}} if direct_port else {}
    settings = StackSettings(repo=REPO, stack=stack, https_port=port, http_port=port + 1, state_dir=state,
                             ca_dir=CA_DIR, platform_config=platform_file(state, images["lab-base"]),
                             tag=images[RELEASE], lab_image=images["lab-base"], spawner=spawner,
                             registry_port=port + 3, **extra)
    return Contender(label, settings)


def direct(label: str, through_edge: Contender) -> Contender:
    """The same stack as `through_edge`, reached at its proxy's published port (plain http)."""
    port = through_edge.settings.extra_env["MLOPS_BENCH_DIRECT_PORT"]
    return Contender(label, through_edge.settings, url=f"http://127.0.0.1:{port}")


def stacks(contenders: list[Contender]) -> list[StackSettings]:
    return list({c.settings.stack: c.settings for c in contenders}.values())


def start(contenders: list[Contender]) -> None:
    for settings in stacks(contenders):
        remove(settings, volumes=True)  # leftovers of a killed run: our stack names only
        deploy(settings)
        # MLflow is on no path from Start to the launcher; on a busy machine its start-up missed the
        # health check and restarted in a loop, taking CPU from the servers being measured
        subprocess.run(["docker", "service", "scale", "--detach", f"{settings.stack}_mlflow=0"],
                       check=True, capture_output=True)
    for settings in stacks(contenders):
        wait_for_hub(settings)
    for c in contenders:
        token = (c.settings.secrets_dir / "api_token").read_text().strip()
        admin_password = (c.settings.secrets_dir / "admin_password").read_text().strip()
        c.hub = HubClient(c.settings.url, token, c.settings.prefix, c.settings.stack, admin_password)
    time.sleep(3)  # the hubs' start-up work settles


def login_to_home(page, url: str, user: str, password: str) -> None:
    """Log in and stay on /hub/home (the default next page would start plain SwarmSpawner's spawn)."""
    page.goto(f"{url}/hub/login?next=%2Fhub%2Fhome")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")


def aborted_by_network_change(timeline: Timeline) -> int:
    return sum(1 for r in timeline.requests if "ERR_NETWORK_CHANGED" in r.failed)


def one_run(chromium, c: Contender, user: str) -> tuple[Phases, list[RequestRecord]]:
    password = c.hub.account(user)  # signed up and approved before the clock starts
    page = chromium.new_context().new_page()
    timeline = Timeline()
    timeline.attach(page)  # before any page loads: its marks script runs on every page from now on
    try:
        try:
            login_to_home(page, c.url, user, password)
        except PlaywrightError as e:
            raise RunFailed(f"login: {str(e).splitlines()[0]} at {page.url}") from None
        if c.settings.spawner == "mlops":
            page.goto(f"{c.url}/hub/spawn")
            timeline.reset()
            page.click("#spawn_form [type=submit]")
        else:
            timeline.reset()
            page.click("#start")
        launcher_at = launcher_or_failure(page, timeline)
        result = phases(timeline, user, launcher_at)
        requests = lab_requests(timeline, user, launcher_at)
        fill_sizes(requests)
        c.last_aborted = aborted_by_network_change(timeline)
        return result, requests
    finally:
        page.context.close()
        c.hub.stop(user)


class RunFailed(Exception):
    pass


def launcher_or_failure(page, timeline: Timeline) -> float:
    """wait_for_launcher, giving up at once when a page load failed (Chromium's error page)."""
    deadline = time.monotonic() + LAUNCHER_TIMEOUT_MS / 1000
    while True:
        aborted = aborted_by_network_change(timeline)
        if page.url.startswith("chrome-error://") or time.monotonic() > deadline:
            raise RunFailed(f"no launcher at {page.url} ({aborted} requests aborted with ERR_NETWORK_CHANGED)")
        try:
            return wait_for_launcher(page, 2000)  # polls every frame: the time is exact within a try
        except PlaywrightTimeoutError:
            continue


def remove_servers_by_name(prefix: str) -> None:
    """User servers left by an interrupted run; plain SwarmSpawner's carry no mlops-hub labels."""
    client = docker.APIClient()
    for service in client.services(filters={"name": f"{prefix}-"}):
        client.remove_service(service["ID"])


def hub_log(c: Contender) -> str:
    return service_container_logs(docker.APIClient(), f"{c.settings.stack}_hub")


# JupyterHub's line at the end of a spawn: start() plus its readiness check
TOOK = re.compile(r"User (\S+) took ([0-9.]+) seconds to start")


def hub_spawn_seconds(log: str) -> dict[str, float]:
    """'User NAME took X seconds to start' from the hub's log, per user."""
    return {name: float(seconds) for name, seconds in TOOK.findall(log)}


# the hub's log line prefix, "[I 2026-12-04 01:31:02.345 JupyterHub spawner:524] "
HUB_LINE = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) JupyterHub [^\]]*\] (.*)$")
# ours' progress messages (MLOpsSwarmSpawner._report) that close each step of a spawn, in order
SPAWN_STEPS = (
    ("admit + prepare", re.compile(r"Starting .* with .* CPUs")),  # pool admission, room check, image, secrets
    ("create service", re.compile(r"Service \S+ created")),
    ("Swarm -> running", re.compile(r"Server container running")),  # scheduling, container start
    ("JupyterLab boots", re.compile(r"Server answering")),  # the server's own start, until it answers
)


def spawn_steps(log: str, users: list[str]) -> dict[str, list[float]]:
    """Seconds of each step of ours' spawns, from the hub's log: JupyterHub's "took X seconds" gives the
    start, ours' progress lines the step ends, and "hub hand-off" is JupyterHub's own rest (proxy route,
    database) after the server answered."""
    progress: dict[str, list[tuple[datetime, str]]] = defaultdict(list)  # user -> (time, message)
    ended: dict[str, tuple[datetime, float]] = {}  # user -> (time of JupyterHub's "took" line, seconds)
    for line in log.splitlines():
        found = HUB_LINE.match(line)
        if not found:
            continue
        at, message = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S.%f"), found[2]
        who, _, text = message.partition(": ")
        took = TOOK.match(message)
        if took:
            ended.setdefault(took[1], (at, float(took[2])))
        elif text and who in users:
            progress[who].append((at, text))
    steps: dict[str, list[float]] = defaultdict(list)
    for user in users:
        ends = [next((at for at, text in progress[user] if pattern.search(text)), None) for _, pattern in SPAWN_STEPS]
        if user not in ended or None in ends:
            continue  # plain SwarmSpawner reports no steps; a run without every line is left out
        end_of_spawn, seconds = ended[user]
        previous = end_of_spawn - timedelta(seconds=seconds)
        for (name, _), end in zip(SPAWN_STEPS, ends, strict=True):
            steps[name].append((end - previous).total_seconds())
            previous = end
        steps["hub hand-off"].append((end_of_spawn - previous).total_seconds())
    return steps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> tuple[float, float]:
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    print(f"{name:<28} p50 {p50:6.2f}s  p95 {p95:6.2f}s  (n={len(values)}, min {min(values):.2f}s)")
    return p50, p95


def print_phases(contenders: list[Contender]) -> None:
    print("\nper hop, p50 (s):")
    print(f"  {'hop':<22}" + "".join(f"{c.label:>12}" for c in contenders))
    for name in Phases.NAMES:
        row = [statistics.median(getattr(run, name) for run in c.runs) for c in contenders]
        print(f"  {name:<22}" + "".join(f"{value:12.2f}" for value in row))
    row = [statistics.median([c.hub_spawn[u] for u in c.users if u in c.hub_spawn] or [float("nan")])
           for c in contenders]
    print(f"  {'(hub: spawn took)':<22}" + "".join(f"{value:12.2f}" for value in row))
    for c in contenders:
        if c.spawn_steps:
            runs = len(next(iter(c.spawn_steps.values())))
            print(f"\n{c.label}: where the hub's spawn went, p50 over {runs} runs (s), from its log:")
            for name, values in c.spawn_steps.items():
                print(f"  {name:<22}{statistics.median(values):12.2f}")


def print_lab_requests(c: Contender, top: int = 12) -> None:
    """The lab page's requests: counts, bytes, compression, outside hosts, and the slowest paths."""
    runs = c.lab_requests
    per_run_count = statistics.median(len(r) for r in runs)
    per_run_bytes = statistics.median(sum(x.body_bytes for x in r) for r in runs)
    compressed = sum(1 for r in runs for x in r if x.encoding)
    total = sum(len(r) for r in runs)
    outside = sorted({re.sub(r"^(https?://[^/]+).*", r"\1", x.url) for r in runs for x in r
                      if not x.url.startswith(c.url)})
    failed = sorted({path_key(x.url, u) + f" ({x.failed})"
                     for r, u in zip(runs, c.users, strict=True) for x in r if x.failed})
    print(f"\n{c.label}: JupyterLab page -> launcher, {per_run_count:.0f} requests, "
          f"{per_run_bytes / 1e6:.2f} MB on the wire per load (p50); {compressed}/{total} responses compressed")
    print(f"  outside hosts: {', '.join(outside) or 'none'}")
    protocols = Counter(x.protocol or "unknown" for r in runs for x in r)
    cache = Counter(x.cache for r in runs for x in r if x.cache)
    print(f"  protocols: {', '.join(f'{k} {n}' for k, n in protocols.most_common())}"
          f"; edge cache: {', '.join(f'{k} {n}' for k, n in cache.most_common()) or 'no X-Cache-Status'}")
    if failed:
        print(f"  failed: {'; '.join(failed)}")
    durations: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[int]] = defaultdict(list)
    for records, user in zip(runs, c.users, strict=True):
        for x in records:
            if x.duration is not None:
                durations[path_key(x.url, user)].append(x.duration)
                sizes[path_key(x.url, user)].append(x.body_bytes)
    # the last response vs the launcher: how much of the lab's load is the network, how much script work
    done = [max(x.end for x in r if x.end is not None) - min(x.start for x in r) for r in runs if r]
    print(f"  requests: first sent -> last received p50 {statistics.median(done):.2f}s of the lab's load")
    static = [k for k in durations if "/static/" in k]
    api = [k for k in durations if "/static/" not in k]
    for title, keys in (("slowest static files", static), ("API calls", api)):
        print(f"  {title}:")
        for key in sorted(keys, key=lambda k: statistics.median(durations[k]), reverse=True)[:top]:
            print(f"  {statistics.median(durations[key]):6.2f}s {statistics.median(sizes[key]) / 1e3:9.1f} kB  {key}")


# --netns: Chromium in a network namespace of its own, joined to the host by a veth pair
NETNS, VETH_HOST, VETH_NS = "ebttl-chromium", "ebttlveth0", "ebttlveth1"
HOST_ADDR, NS_ADDR = "10.250.77.1", "10.250.77.2"


@contextmanager
def chromium_in_own_netns():
    """A network namespace for Chromium (root only); yields the wrapper to launch it with.

    Chromium drops connections whenever the machine's network interfaces change (ERR_NETWORK_CHANGED)
    - and Docker adds one for every container it starts, so a browser on the Docker host loses its
    HTTP/2 connection to the edge during every spawn (the progress stream reconnects ~3 s later, or
    a page load fails), which no remote user's browser sees. Over HTTP/1.1 to loopback it does not
    lose them, so without this the edge is measured with a handicap. In its own namespace Chromium
    sees only its veth; it reaches the stacks' published ports at HOST_ADDR."""
    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)  # a killed run's leftover
    subprocess.run(["ip", "link", "del", VETH_HOST], capture_output=True)
    try:
        ip("netns", "add", NETNS)
        ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        ip("link", "set", VETH_NS, "netns", NETNS)
        ip("addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST)
        ip("link", "set", VETH_HOST, "up")
        for args in (("addr", "add", f"{NS_ADDR}/30", "dev", VETH_NS), ("link", "set", VETH_NS, "up"),
                     ("link", "set", "lo", "up")):
            ip("netns", "exec", NETNS, "ip", *args)
        with tempfile.TemporaryDirectory(prefix="eb-chromium-") as tmp:
            wrapper = Path(tmp) / "chromium"
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {NETNS} {browser.CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            yield str(wrapper)
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)  # takes the veth pair along
        subprocess.run(["ip", "link", "del", VETH_HOST], capture_output=True)


def main() -> None:
    trust_in_this_process()  # the stacks' front doors: certificates from the test CA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5, help="users per spawner")
    parser.add_argument("--port", type=int, default=18865,
                        help="ours (https; its proxy directly at port+2); plain gets port+10")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per spawner first")
    parser.add_argument("--netns", action="store_true",
                        help="run Chromium in a network namespace of its own (root; see chromium_in_own_netns)")
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    state = Path(tempfile.mkdtemp(prefix="ttl-bench-"))
    ours = contender("ours", "ebttlours", "mlops", args.port, images, state, direct_port=args.port + 2)
    ours_direct = direct("ours-direct", ours)
    plain = contender("plain", "ebttlplain", "swarm", args.port + 10, images, state)
    contenders = [ours, ours_direct, plain]
    netns = chromium_in_own_netns() if args.netns else nullcontext()
    executable = netns.__enter__()
    if args.netns:
        for c in contenders:
            c.url = c.url.replace("127.0.0.1", HOST_ADDR)
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=executable or browser.CHROMIUM,
                                          args=browser.CHROMIUM_ARGS + chromium_args())
    try:
        start(contenders)
        stamp = datetime.now(timezone.utc).strftime("%H%M%S")
        for i in range(args.warmup + args.count):
            shift = i % len(contenders)
            order = contenders[shift:] + contenders[:shift]  # none always goes first
            for c in order:
                user = f"ttl-{stamp}-{i}-{c.label[0]}{c.label[-1]}"  # ours and ours-direct share a hub
                timed = i >= args.warmup
                for attempt in range(1 + RETRIES):
                    try:
                        result, requests = one_run(chromium, c, user + "r" * attempt)
                        user += "r" * attempt
                        break
                    except RunFailed as e:
                        # Chromium drops its connections when Docker adds or removes a network interface
                        # (ERR_NETWORK_CHANGED; other stacks on this machine start containers too): a run
                        # whose page never recovers is counted and done again with a new user, not timed
                        c.failed += 1
                        print(f"  {c.label:<11} {'run' if timed else 'warm-up'} {i + 1}: FAILED {e}", flush=True)
                        time.sleep(2)
                else:
                    continue
                if timed:
                    c.runs.append(result)
                    c.lab_requests.append(requests)
                    c.users.append(user)
                    c.aborted.append(c.last_aborted)
                print(f"  {c.label:<11} {'run' if timed else 'warm-up'} {i + 1}: {result.total:5.2f}s  ("
                      + ", ".join(f"{n} {getattr(result, n):.2f}" for n in Phases.NAMES[:-1])
                      + f"; {c.last_aborted} requests aborted by a network change)", flush=True)
                time.sleep(2)  # the stopped server's container goes before the next spawn
        for c in contenders:
            log = hub_log(c)
            c.hub_spawn = hub_spawn_seconds(log)
            c.spawn_steps = spawn_steps(log, c.users)
    finally:
        chromium.close()
        playwright.stop()
        netns.__exit__(None, None, None)
        for settings in stacks(contenders):
            remove_servers_by_name(settings.prefix)
            remove(settings, volumes=True)

    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nload average at the end: {' '.join(load)} ({os.cpu_count()} cores); Chromium in "
          + ("a network namespace of its own" if args.netns else "the host's network namespace"))
    ours_p50, _ = summary("ours (through the edge)", [r.total for r in ours.runs])
    direct_p50, _ = summary("ours-direct (proxy, http)", [r.total for r in ours_direct.runs])
    plain_p50, _ = summary("plain SwarmSpawner (edge)", [r.total for r in plain.runs])
    print("requests Chromium aborted with ERR_NETWORK_CHANGED per run (Docker adding a container's interface;"
          " an aborted progress stream reconnects after ~3 s): "
          + ", ".join(f"{c.label} {c.aborted}" for c in contenders))
    failed = {c.label: c.failed for c in contenders if c.failed}
    if failed:
        print(f"attempts whose page Chromium aborted (done again with a new user, not timed): {failed}")
    print(f"ratio ours/plain p50: {ours_p50 / plain_p50:.2f} (target <= 0.60)")
    print(f"ratio ours-edge/ours-direct p50: {ours_p50 / direct_p50:.2f} (the edge should make the lab load faster:"
          " < 1.00)")
    edge_load, direct_load = (statistics.median(r.lab_html_to_launcher for r in c.runs) for c in (ours, ours_direct))
    print(f"  lab HTML -> launcher p50: ours {edge_load:.2f}s, ours-direct {direct_load:.2f}s"
          f" (ratio {edge_load / direct_load:.2f})")
    print_phases(contenders)
    for c in contenders:
        print_lab_requests(c)


if __name__ == "__main__":
    main()
