"""Spawn storm: N users start servers at the same moment against the deployed stack, ours vs plain.

Deploys the platform stack (Airflow, MLflow, database, edge: as `mlops-hub up` does) with
MLOpsSwarmSpawner, measures the hub's API idle, then N users POST /hub/api/users/NAME/server at once
(a barrier releases every thread together) while a probe keeps asking the hub's API through the front
door. Then the same stack's hub is redeployed with dockerspawner's SwarmSpawner (same image, CPU,
RAM and reservations) and the storm runs again. For each it prints: how many servers fit the node's
free room (Swarm's reservations), how many started, how many were refused with Swarm's placement
message and how long after their POST, POST->ready p50/p95, and the hub API's p50/p99 idle and
during the storm. Not a test: it prints numbers.

    PYTHONPATH=. .venv/bin/python bench/spawn_storm.py [--users 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import docker
import requests
import yaml
from requests.adapters import HTTPAdapter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, remove_user_servers, wait_for_hub  # noqa: E402
from mlops_hub.policy.units import parse_memory  # noqa: E402
from mlops_hub.swarm.placement import free_room  # noqa: E402
from tests.integration.dockerlogs import service_container_logs  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.support.edge_ca import CA_DIR, trust_in_this_process  # noqa: E402

CPU, MEM = 1, "512M"  # what each user asks for (issue 14's storm)
CPU_FRACTION, MEM_FRACTION = 0.1, 0.25  # reservations as config/platform.yaml sets them
PROBE_EVERY = 0.1  # seconds between hub API probes (one at a time: a slow answer delays the next)
IDLE_SECONDS = 20
REFUSAL_TARGET, API_P99_TARGET = 10.0, 0.250
PLACEMENT_WORDS = "cannot place your server"  # our message; plain SwarmSpawner has none
LOOP_DEBUG_OVERLAY = REPO / "bench" / "swarm-stack.loop-debug.yml"


def platform_file(state: Path, lab_image: str) -> Path:
    reserve_cpu, reserve_mem = CPU * CPU_FRACTION, int(parse_memory(MEM) * MEM_FRACTION)
    document = {
        "spawner": {
            "environments": [{"slug": "python", "image": lab_image}],
            "role_policies": {"default": {"max_cpu": CPU, "max_mem": MEM, "default_cpu": CPU, "default_mem": MEM,
                                          "max_servers": 1}},
            "cpu_guarantee_fraction": CPU_FRACTION, "mem_guarantee_fraction": MEM_FRACTION,
        },
        # plain SwarmSpawner: the same size and the same reservations, as absolute values
        "swarm_spawner": {"cpu_limit": CPU, "mem_limit": MEM, "cpu_guarantee": reserve_cpu,
                          "mem_guarantee": reserve_mem},
    }
    path = state / "platform.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# ---- the stack --------------------------------------------------------------------------------


def wait_until_settled(client: docker.APIClient, stack: str, timeout: float = 900) -> None:
    """Every service of the stack runs one task, healthy where it has a health check (Airflow migrates first)."""
    deadline = time.monotonic() + timeout
    waiting: list[str] = []
    while time.monotonic() < deadline:
        waiting = []
        for service in client.services(filters={"label": f"com.docker.stack.namespace={stack}"}):
            name = service["Spec"]["Name"]
            running = [t for t in client.tasks(filters={"service": name, "desired-state": "running"})
                       if t["Status"]["State"] == "running"]
            if not running:
                waiting.append(f"{name}: no running task")
                continue
            container = running[0]["Status"]["ContainerStatus"]["ContainerID"]
            health = (client.inspect_container(container)["State"].get("Health") or {}).get("Status")
            if health not in (None, "healthy"):
                waiting.append(f"{name}: {health}")
        if not waiting:
            return
        time.sleep(2)
    raise SystemExit(f"the stack did not settle: {waiting}")


def hub_task_id(client: docker.APIClient, stack: str) -> str:
    try:
        tasks = client.tasks(filters={"service": f"{stack}_hub", "desired-state": "running"})
    except docker.errors.NotFound:
        return ""  # not deployed yet
    return next((t["ID"] for t in tasks if t["Status"]["State"] == "running"), "")


def deploy_with(settings: StackSettings, client: docker.APIClient, spawner: str) -> HubClient:
    """(Re)deploy the stack with `spawner`; wait for a new hub task and every service to settle."""
    before = hub_task_id(client, settings.stack)
    settings.spawner = spawner
    deploy(settings)
    while before and hub_task_id(client, settings.stack) in (before, ""):
        time.sleep(1)  # the old hub answers until Swarm has replaced it (stop-first)
    wait_for_hub(settings, timeout=600)
    wait_until_settled(client, settings.stack)
    time.sleep(10)  # start-up work (route checks, the culler's first look) is done
    token = (settings.secrets_dir / "api_token").read_text().strip()
    return HubClient(settings.url, token, settings.prefix, settings.stack)


def servers_that_fit(client: docker.APIClient) -> int:
    """How many more servers of CPU/MEM Swarm can place now, from the nodes' unreserved room."""
    reserve_cpu, reserve_mem = CPU * CPU_FRACTION, parse_memory(MEM) * MEM_FRACTION
    rooms = free_room(client.nodes(), client.tasks(filters={"desired-state": "running"}))
    return sum(min(math.floor(r.cpu / reserve_cpu + 1e-9), math.floor(r.mem / reserve_mem)) for r in rooms)


# ---- the probe and the storm --------------------------------------------------------------------


class _CertificateFor(HTTPAdapter):
    """Connects where the URL says, but checks the certificate for (and names in TLS) the host the platform's
    certificate is for."""

    def __init__(self, host: str) -> None:
        self._host = host
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs.update(assert_hostname=self._host, server_hostname=self._host)
        super().init_poolmanager(*args, **kwargs)


def from_outside(url: str, client: docker.APIClient) -> tuple[str, str]:
    """`url` on this node's Swarm bridge address instead of loopback, and the netloc it had. On loopback Docker's
    userland proxy (a host process, busy in a storm) relays every byte to the edge; a person's browser comes
    in over the network, which the kernel forwards to the edge directly."""
    gateway = client.inspect_network("docker_gwbridge")["IPAM"]["Config"][0]["Gateway"]
    parts = urlsplit(url)
    return parts._replace(netloc=f"{gateway}:{parts.port}").geturl(), parts.netloc


def _probe_loop(url: str, netloc: str, token: str, stopping, results) -> None:
    # a person's browser is not on the node: ahead of the node's load on the CPU (one request per 0.1 s, so it
    # takes little), a probe's time is the platform's, not this process waiting for the CPU
    os.nice(-10)
    session = requests.Session()
    session.mount("https://", _CertificateFor(urlsplit(f"//{netloc}").hostname))
    session.headers.update({"Authorization": f"token {token}", "Host": netloc})
    samples: list[tuple[float, float | None]] = []  # (when, seconds; None: failed)
    while not stopping.is_set():
        start = time.monotonic()
        try:
            ok = session.get(url, timeout=60).status_code == 200
        except requests.RequestException:
            ok = False
        took = time.monotonic() - start
        samples.append((start, took if ok else None))
        stopping.wait(max(0.0, PROBE_EVERY - took))
    results.send(samples)


class Probe:
    """Asks the hub's API (a user model: the database and the auth) through the front door, one at a time,
    from a process of its own: a person's browser does not wait for the storm's 30 client threads (the GIL)."""

    def __init__(self, hub: HubClient, user: str, client: docker.APIClient):
        self.url, netloc = from_outside(f"{hub.url}/hub/api/users/{user}", client)
        context = multiprocessing.get_context("fork")
        self.stopping = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_probe_loop,
                                        args=(self.url, netloc, hub.token, self.stopping, sender), daemon=True)
        self.samples: list[tuple[float, float]] = []  # (when, seconds): the answered requests
        self.sent: list[int] = []  # each sample's place among all requests sent, errors included
        self.errors = 0
        self.wall_start = time.time()

    def start(self) -> None:
        self.wall_start = time.time()
        self._process.start()

    def stop(self) -> None:
        self.stopping.set()
        for place, (when, took) in enumerate(self._results.recv()):
            if took is None:
                self.errors += 1
            else:
                self.sent.append(place)
                self.samples.append((when, took))
        self._process.join()

    def between(self, start: float, end: float) -> list[float]:
        return [took for when, took in self.samples if start <= when <= end]


@dataclass
class Outcome:
    user: str
    posted: float = 0.0
    ready_after: float | None = None
    failed_after: float | None = None
    message: str = ""


def spawn_and_follow(hub: HubClient, outcome: Outcome, options: dict | None, barrier: threading.Barrier) -> None:
    """POST the spawn when every thread is ready; then read its progress stream until ready or failed."""
    session = requests.Session()
    session.headers["Authorization"] = f"token {hub.token}"
    body = None if options is None else json.dumps(options)
    barrier.wait()
    outcome.posted = time.monotonic()
    try:
        r = session.post(f"{hub.url}/hub/api/users/{outcome.user}/server", data=body, timeout=600)
    except requests.RequestException as e:
        outcome.failed_after, outcome.message = time.monotonic() - outcome.posted, f"POST: {e}"
        return
    if r.status_code == 201:
        outcome.ready_after = time.monotonic() - outcome.posted
        return
    if r.status_code != 202:
        outcome.failed_after = time.monotonic() - outcome.posted
        outcome.message = (r.json().get("message") if r.headers.get("content-type", "").startswith("application/json")
                           else r.text)[:400]
        return
    with session.get(f"{hub.url}/hub/api/users/{outcome.user}/server/progress", stream=True, timeout=600) as stream:
        if stream.status_code != 200:
            # JupyterHub keeps no failed spawn's message once it has cleaned up: asked too late to read it
            outcome.failed_after = time.monotonic() - outcome.posted
            outcome.message = f"progress: HTTP {stream.status_code} {stream.text[:200]}"
            return
        for line in stream.iter_lines():
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                outcome.ready_after = time.monotonic() - outcome.posted
                return
            if event.get("failed"):
                outcome.failed_after = time.monotonic() - outcome.posted
                outcome.message = event.get("message", "")[:400]
                return
    outcome.failed_after, outcome.message = time.monotonic() - outcome.posted, "progress stream ended"


@dataclass
class StormResult:
    label: str
    users: int
    fit: int
    load_before: str
    outcomes: list[Outcome] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    storm: list[float] = field(default_factory=list)
    timed: list[tuple[float, float]] = field(default_factory=list)  # every storm probe: (s into the storm, took)
    probe_errors: int = 0
    loop_stall: float = 0.0  # the longest "Event loop was unresponsive" the hub logged during the storm
    hub_restarted: bool = False  # Swarm replaced the hub during the storm (its health check failed)
    # probes over the target: (s into the storm, took, (nginx, proxy + hub, hub handler) or None)
    slow: list[tuple[float, float, tuple[float, float, float] | None]] = field(default_factory=list)

    @property
    def started(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ready_after is not None]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed_after is not None and PLACEMENT_WORDS in o.message]

    @property
    def other_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed_after is not None and PLACEMENT_WORDS not in o.message]


def hub_log_stall(client: docker.APIClient, stack: str, since: float) -> float:
    """The longest event-loop stall the hub's containers logged since `since` (JupyterHub's own metric)."""
    text = service_container_logs(client, f"{stack}_hub", since)
    return max(map(float, re.findall(r"Event loop was unresponsive for at least ([\d.]+)s", text)), default=0.0)


# nginx's edge log: `addr "GET /uri" status bytes 0.123s upstream 0.120s`; the hub's: `200 GET /uri (who@addr) 4.5ms`
_EDGE_LINE = r'"GET {uri}" \d+ \d+ ([\d.]+)s upstream ([\d.]+|-)s'
_HUB_LINE = r"\d+ GET {uri} \([^)]*\) ([\d.]+)ms"


def hops(client: docker.APIClient, stack: str, probe: Probe) -> list[tuple[float, float, float]] | None:
    """For each probe request in order: (nginx's time, the proxy's and hub's time behind it, the hub's own
    handler time), from the edge's and the hub's logs; None when the logs do not hold one line per request."""
    uri = re.escape(urlsplit(probe.url).path)
    edge = re.findall(_EDGE_LINE.format(uri=uri), service_container_logs(client, f"{stack}_edge", probe.wall_start - 1))
    hub = re.findall(_HUB_LINE.format(uri=uri), service_container_logs(client, f"{stack}_hub", probe.wall_start - 1))
    sent = len(probe.samples) + probe.errors
    if len(edge) != sent or len(hub) != sent:
        print(f"  (hop times not shown: {sent} probes, {len(edge)} edge and {len(hub)} hub log lines)")
        return None
    return [(float(total), float(up) if up != "-" else math.nan, float(handler) / 1000)
            for (total, up), handler in zip(edge, hub, strict=True)]


def slow_callbacks(client: docker.APIClient, stack: str, since: float) -> list[str]:
    """asyncio's debug-mode lines of the hub since `since` (wall clock): what held its loop, and when."""
    found = []
    for line in service_container_logs(client, f"{stack}_hub", since, timestamps=True).splitlines():
        if re.search(r"Executing .* took [\d.]+ seconds", line):
            stamp, _, rest = line.partition(" ")
            at = dt.datetime.fromisoformat(stamp[:26]).replace(tzinfo=dt.timezone.utc).timestamp() - since
            found.append(f"{at:6.2f} s: {rest[:400]}")
    return found


def storm(label: str, hub: HubClient, client: docker.APIClient, users: int, options: dict | None) -> StormResult:
    names = [f"storm-{label}-{i:02d}" for i in range(users)]
    for name in [*names, f"probe-{label}"]:
        hub.create_user(name)
    probe = Probe(hub, f"probe-{label}", client)
    probe.start()
    time.sleep(IDLE_SECONDS)
    idle_end = time.monotonic()
    result = StormResult(label, users, servers_that_fit(client), " ".join(f"{x:.2f}" for x in os.getloadavg()))
    result.outcomes = [Outcome(name) for name in names]
    barrier = threading.Barrier(users)
    threads = [threading.Thread(target=spawn_and_follow, args=(hub, o, options, barrier)) for o in result.outcomes]
    print(f"{label}: {users} users start at once ({result.fit} fit the free room; load {result.load_before})",
          flush=True)
    hub_before, wall_start = hub_task_id(client, hub.stack), time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.hub_restarted = hub_task_id(client, hub.stack) != hub_before
    result.loop_stall = hub_log_stall(client, hub.stack, wall_start)
    start = min(o.posted for o in result.outcomes)
    end = max(o.posted + (o.ready_after or o.failed_after or 0) for o in result.outcomes)
    probe.stop()
    result.idle = probe.between(0, idle_end)
    result.storm, result.probe_errors = probe.between(start, end), probe.errors
    result.timed = [(when - start, took) for when, took in probe.samples if start <= when <= end]
    time.sleep(2)  # nginx flushes its buffered log once a second
    per_request = hops(client, hub.stack, probe)
    result.slow = [(when - start, took, per_request[probe.sent[i]] if per_request else None)
                   for i, (when, took) in enumerate(probe.samples) if start <= when <= end and took > API_P99_TARGET]
    for o in sorted(result.outcomes, key=lambda o: o.ready_after or o.failed_after or 0):
        what = (f"ready {o.ready_after:.1f}s" if o.ready_after is not None
                else f"failed {o.failed_after:.1f}s: {o.message}")
        print(f"  {o.user}: {what}", flush=True)
    for line in slow_callbacks(client, hub.stack, wall_start):  # only with --loop-debug
        print(f"  hub loop held: {line}", flush=True)
    stop_all(hub, client, names)
    return result


def stop_all(hub: HubClient, client: docker.APIClient, names: list[str]) -> None:
    def running(name: str) -> bool:
        r = hub.api("GET", f"/users/{name}")
        return r.status_code != 200 or r.json()["servers"].get("") is not None  # a hub restarting: not known yet

    for name in names:
        if running(name):
            hub.api("DELETE", f"/users/{name}/server")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(running(name) for name in names):
        time.sleep(2)
    remove_user_servers(hub.prefix)  # what a stop left behind
    for service in client.services(filters={"name": f"{hub.prefix}-"}):  # plain SwarmSpawner labels none
        client.remove_service(service["ID"])
    time.sleep(10)  # containers exit and free their room before the next storm


# ---- the report ---------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f} ms"


def seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} s"


def first(result: StormResult, seconds: float) -> list[float]:
    return [took for at, took in result.timed if at <= seconds]


def report(results: list[StormResult]) -> None:
    print()
    width = 30
    print(f"{'':<{width}}" + "".join(f"{r.label:>26}" for r in results))

    def row(name: str, cell) -> None:
        print(f"{name:<{width}}" + "".join(f"{cell(r):>26}" for r in results))

    row("users at once", lambda r: str(r.users))
    row("load average before", lambda r: r.load_before)
    row("servers that fit", lambda r: str(r.fit))
    row("started", lambda r: str(len(r.started)))
    row("refused with placement msg", lambda r: str(len(r.refused)))
    row("other failures", lambda r: str(len(r.other_failures)))
    row("POST->ready p50", lambda r: seconds(statistics.median([o.ready_after for o in r.started]) if r.started
                                             else math.nan))
    row("POST->ready p95", lambda r: seconds(percentile([o.ready_after for o in r.started], 0.95)))
    row("POST->refusal max", lambda r: seconds(max([o.failed_after for o in r.refused], default=math.nan)))
    row("POST->other failure max", lambda r: seconds(max([o.failed_after for o in r.other_failures],
                                                         default=math.nan)))
    row("hub API idle p50", lambda r: ms(percentile(r.idle, 0.5)))
    row("hub API idle p99", lambda r: ms(percentile(r.idle, 0.99)))
    row("hub API storm p50", lambda r: ms(percentile(r.storm, 0.5)))
    row("hub API storm p99", lambda r: ms(percentile(r.storm, 0.99)))
    row("hub API storm max", lambda r: ms(max(r.storm, default=math.nan)))
    # the same window for every spawner: a storm that ends sooner (refusals at once, not at 120 s) has
    # fewer, busier seconds, and a longer one's quiet tail lowers its p99
    window = min(max((at for at, _ in r.timed), default=0.0) for r in results)
    row(f"hub API first {window:.0f} s p50", lambda r: ms(percentile(first(r, window), 0.5)))
    row(f"hub API first {window:.0f} s p99", lambda r: ms(percentile(first(r, window), 0.99)))
    row("hub API probes (storm/err)", lambda r: f"{len(r.storm)}/{r.probe_errors}")
    row("hub event loop stall max", lambda r: seconds(r.loop_stall) if r.loop_stall else "-")
    row("hub replaced during storm", lambda r: "yes" if r.hub_restarted else "no")
    for r in results:  # when in the storm the slow answers came, and which hop held them
        print(f"{r.label}: probes over {API_P99_TARGET * 1000:.0f} ms: {len(r.slow)} of {len(r.storm)}")
        for at, took, hop in r.slow:
            where = "" if hop is None else (f": client {ms(took - hop[0])}, nginx {ms(hop[0] - hop[1])},"
                                            f" proxy {ms(hop[1] - hop[2])}, hub {ms(hop[2])}")
            print(f"  at {at:.1f} s: {took * 1000:.0f} ms{where}")
    if len(results) == 2:
        ours, plain = results
        print(f"ratio storm p99 ours/plain: {percentile(ours.storm, 0.99) / percentile(plain.storm, 0.99):.2f}"
              f" (whole storms); first {window:.0f} s of each:"
              f" {percentile(first(ours, window), 0.99) / percentile(first(plain, window), 0.99):.2f}")
        if ours.started and plain.started:
            ready_ratio = (statistics.median([o.ready_after for o in ours.started])
                           / statistics.median([o.ready_after for o in plain.started]))
            print(f"ratio POST->ready p50 ours/plain: {ready_ratio:.2f}")
    ours = results[0]
    print(f"target hub API storm p99 <= {API_P99_TARGET * 1000:.0f} ms: "
          f"{'met' if percentile(ours.storm, 0.99) <= API_P99_TARGET else 'NOT met'}")
    print(f"target every server that fits starts: "
          f"{'met' if len(ours.started) >= min(ours.fit, ours.users) and not ours.other_failures else 'NOT met'}")
    print(f"target every refusal within {REFUSAL_TARGET:.0f} s: "
          f"{'met' if all(o.failed_after <= REFUSAL_TARGET for o in ours.refused) else 'NOT met'}")


def main() -> None:
    trust_in_this_process()  # the stack's front door: a certificate from the test CA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--port", type=int, default=18865)
    parser.add_argument("--stack", default="mlopsstormbench")
    parser.add_argument("--ours-only", action="store_true", help="skip plain SwarmSpawner")
    parser.add_argument("--loop-debug", action="store_true",
                        help="asyncio debug mode in the hub: print the callbacks that held its loop 0.1 s or more")
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    state = Path(tempfile.mkdtemp(prefix="mlops-storm-"))
    settings = StackSettings(repo=REPO, stack=args.stack, https_port=args.port, http_port=args.port + 1,
                             state_dir=state, ca_dir=CA_DIR, platform_config=platform_file(state, images["lab-base"]),
                             tag=images[RELEASE], lab_image=images["lab-base"], registry_port=args.port + 3,
                             extra_compose_files=(LOOP_DEBUG_OVERLAY,) if args.loop_debug else ())
    client = docker.APIClient()
    remove(settings, volumes=True)
    results = []
    try:
        hub = deploy_with(settings, client, "mlops")
        results.append(storm("ours", hub, client, args.users, {}))
        report(results)  # printed now too: a failure of the second storm keeps these numbers
        if not args.ours_only:
            hub = deploy_with(settings, client, "swarm")
            results.append(storm("plain", hub, client, args.users, None))
            report(results)
    finally:
        for service in client.services(filters={"name": f"{settings.prefix}-"}):  # plain's, unlabelled
            client.remove_service(service["ID"])
        remove(settings, volumes=True)


if __name__ == "__main__":
    main()
