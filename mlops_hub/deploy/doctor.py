"""`mlops-hub doctor`: is this machine ready to run the platform? One finding per check, with the fix.

Each check has two halves: a thin function that asks Docker or the host (`docker_*`, `node_sizes`,
`port_state`, ...) and a pure `*_finding` function that turns the answer into a Finding - the
thresholds and messages, unit-tested without Docker. `up` runs the checks that apply before it
builds (mlops_hub.deploy.preflight calls the same functions); `doctor` runs them all.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..policy.image_check import SERVER_USER, SINGLEUSER, ImageFault, image_faults, is_root
from ..policy.placement import NodeRequirement, missing_labels, requirements
from ..policy.platform import check_spawner_settings, load_platform_file
from ..policy.roles import RolePolicy
from ..policy.units import format_cpu, format_memory, parse_memory
from .images import BASE_IMAGE, BASE_RECIPE, IMAGE_REPO, RECIPES, image_id, image_tag
from .node_probe import NodeProbe, probe_nodes
from .stack import SECRET_NAMES

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# the daemon normally answers within a second; a dead TCP host must not hang the CLI
DOCKER_TIMEOUT = 20.0
HOST_SETUP = "scripts/host-setup.sh"
# older engines lack what the stack file uses (secrets' names from variables, host-mode ports in v3.8 files)
MIN_DOCKER_VERSION = (20, 10)
GB = 1000**3
# the platform images of one checkout take about 5 GB (hub, lab-base, mlflow, airflow, postgres and edge at
# 0.6-1.3 GB each over a 0.5 GB base), and every `mlops-hub build` after a change adds new hashed tags
# beside the old ones: below 5 GB a rebuild cannot finish; below 15 GB a few builds, the user
# environments' images and the volumes (database, homes) will fill the disk soon
DISK_FAIL_BELOW = 5 * GB
DISK_WARN_BELOW = 15 * GB
# TLS certificates, OIDC tokens and the hub's cookies carry times; checked against the daemon's clock
CLOCK_WARN_SECONDS = 5.0
# Without systemd (cgroupfs driver, cgroup v1) every container is in one cgroup, `docker`, which by default
# weighs on the CPU as one host process (1024 shares): scripts/host-setup.sh gives it eight processes' worth
DOCKER_CGROUP_SHARES_FILE = Path("/sys/fs/cgroup/cpu/docker/cpu.shares")
DOCKER_CGROUP_SHARES = 8192
ONE_PROCESS_SHARES = 1024
PROBE_PREFIX = "mlops-doctor-probe"
PROBE_LABEL = "mlops-hub.doctor-probe"
PROBE_IMAGE = f"{IMAGE_REPO}/base:latest"  # has python3; no registry to pull a probe image from
PROBE_PORT = 8080
PROBE_TIMEOUT = 60.0
# a container's start takes a second, longer while images build beside it
IMAGE_RUN_TIMEOUT = 60.0
SPAWNER_PORT = 8888  # dockerspawner's `port`: where the hub connects to a user server, unless platform.yaml sets it


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok, warn, fail; skip: not run, since an earlier check failed
    message: str
    fix: str | None = None  # the command (or step) that fixes it; every non-ok finding has one

    @property
    def refusal(self) -> str:
        """One line for `up`: what is wrong and the fix."""
        return self.message if self.fix is None else f"{self.message}; fix: {self.fix}"


# ---------------------------------------------------------------- Docker I/O (thin)

def docker(*argv: str, timeout: float = DOCKER_TIMEOUT) -> subprocess.CompletedProcess:
    """A docker CLI call that cannot hang; Ctrl-C that reached docker too stops us."""
    try:
        proc = subprocess.run(["docker", *argv], capture_output=True, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["docker", *argv], 1, "", "timed out")
    except FileNotFoundError:
        return subprocess.CompletedProcess(["docker", *argv], 127, "", "no docker command")
    if proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT):
        raise KeyboardInterrupt  # the user stopped us, the daemon may be fine
    return proc


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def docker_info() -> dict | None:
    proc = docker("info", "--format", "{{json .}}")
    if proc.returncode != 0:
        return None
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        return None
    # `docker info` exits 0 with the client part only when the daemon is down
    return info if isinstance(info, dict) and info.get("ServerVersion") else None


def server_version() -> str | None:
    proc = docker("version", "--format", "{{.Server.Version}}")
    return proc.stdout.strip() or None if proc.returncode == 0 else None


@dataclass(frozen=True)
class Node:
    name: str
    cpus: float
    mem: int
    ready: bool  # status ready and availability active: Swarm places tasks on it
    # capacity minus what the tasks running there reserve (Swarm schedules by reservations); None: unknown
    free_cpus: float | None = None
    free_mem: int | None = None
    state: str = ""  # Swarm's node state (ready, down, ...); '' when not read
    availability: str = ""  # active, pause, drain; '' when not read
    labels: tuple[tuple[str, str], ...] = ()  # the node's labels, by key


def node_sizes() -> list[Node] | None:
    """Every node's CPUs and memory as `docker node inspect` reports them; None if not asked of a manager."""
    ids = docker("node", "ls", "-q")
    if ids.returncode != 0:
        return None
    proc = docker("node", "inspect", *ids.stdout.split())
    try:
        raws = json.loads(proc.stdout) if proc.returncode == 0 else None
        return None if raws is None else [node_from_inspect(n, *reserved_on(n["ID"])) for n in raws]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # not the JSON list of nodes a manager answers


def reserved_on(node_id: str) -> tuple[float, int]:
    """CPUs and bytes the tasks running on a node reserve."""
    tasks = docker("node", "ps", node_id, "-q", "--filter", "desired-state=running").stdout.split()
    if not tasks:
        return 0.0, 0
    # a task without resources has no `Resources` key: ask for the parent, which is then null
    out = docker("inspect", "--format", "{{json .Spec.Resources}}", *tasks).stdout
    reservations = [(json.loads(line) or {}).get("Reservations") or {} for line in out.splitlines() if line.strip()]
    return (sum(r.get("NanoCPUs") or 0 for r in reservations) / 1e9,
            sum(r.get("MemoryBytes") or 0 for r in reservations))


def node_from_inspect(raw: Mapping, reserved_cpus: float | None = None, reserved_mem: int | None = None) -> Node:
    description = raw.get("Description") or {}
    resources = description.get("Resources") or {}
    cpus, mem = (resources.get("NanoCPUs") or 0) / 1e9, resources.get("MemoryBytes") or 0
    state, spec = str((raw.get("Status") or {}).get("State") or ""), raw.get("Spec") or {}
    availability = str(spec.get("Availability") or "")
    return Node(name=description.get("Hostname") or raw.get("ID", "?"), cpus=cpus, mem=mem,
                ready=state == "ready" and availability == "active",
                free_cpus=None if reserved_cpus is None else cpus - reserved_cpus,
                free_mem=None if reserved_mem is None else mem - reserved_mem,
                state=state, availability=availability,
                labels=tuple(sorted((str(k), str(v)) for k, v in (spec.get("Labels") or {}).items())))


def expected_image_tags(repo: Path, image_id: Callable[[str], str | None] = image_id) -> dict[str, str]:
    """The tags `mlops-hub build` gives this checkout's images, computed as images.py does, building
    nothing. Every image is FROM base, so without base (or its parent) the others cannot be named."""
    parent = image_id(BASE_IMAGE)
    if not parent:
        return {"debian": BASE_IMAGE}
    base = image_tag(repo, BASE_RECIPE, parent)
    base_id = image_id(base)
    if not base_id:
        return {"base": base}
    tags = {"base": base}
    for name, recipe in RECIPES.items():  # an image copied from comes earlier in RECIPES
        copied = "".join(image_id(tags[source]) or tags[source] for source in recipe.copies_from)
        tags[name] = image_tag(repo, recipe, base_id, copied)
    return tags


def port_state(port: int) -> str:
    """"free", "in use", or why it cannot be told (host-mode ports bind every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError as e:
            return "in use" if e.errno == errno.EADDRINUSE else f"cannot be checked ({e.strerror})"
    return "free"


def ports_of_stack(stack: str) -> set[int]:
    """Ports the stack itself publishes: an upgrade (`up` again) reuses them."""
    ids = docker("stack", "services", stack, "-q")
    if ids.returncode != 0 or not ids.stdout.split():
        return set()
    # from the specs: `docker stack services` shows no host-mode ports, and every port of ours is one
    proc = docker("service", "inspect", "--format", "{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}} {{end}}",
                  *ids.stdout.split())
    return {int(p) for p in proc.stdout.split()} if proc.returncode == 0 else set()


def file_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def free_bytes(path: Path) -> int | None:
    """Free space of the file system holding `path` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None


def image_config(image: str) -> dict | None:
    """The image's Config (`docker image inspect`); None when it is not on this node."""
    proc = docker("image", "inspect", "--format", "{{json .Config}}", image)
    if proc.returncode != 0:
        return None
    try:
        config = json.loads(proc.stdout)
    except ValueError:
        return None
    return config if isinstance(config, dict) else {}


def singleuser_on_path(image: str, user: str) -> tuple[bool | None, str]:
    """Whether jupyterhub-singleuser is on the image's PATH for `user`; None and Docker's words when a
    shell in the image could not be asked (no /bin/sh, say)."""
    proc = docker("run", "--rm", "--network", "none", "--user", user, "--entrypoint", "sh", image,
                  "-c", f"command -v {SINGLEUSER} || exit 3",  # 3: looked, not found (docker's own codes differ)
                  timeout=IMAGE_RUN_TIMEOUT)
    if proc.returncode == 0:
        return True, ""
    if proc.returncode == 3:
        return False, ""
    return None, (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:200]


@dataclass(frozen=True)
class EnvironmentImage:
    """What doctor learnt of one environment's image."""

    slug: str
    image: str
    present: bool = True  # on this node
    faults: tuple[ImageFault, ...] = ()
    unchecked: str = ""  # why jupyterhub-singleuser could not be looked for; '' when it was


def inspect_environment(slug: str, image: str, port: int, cmd: Sequence[str] | str | None = None,
                        run_as_user: str | None = None) -> EnvironmentImage:
    """One environment's image, as the spawner would run it: its `cmd` replaces the image's CMD, and it runs
    as `run_as_user`, else as the image's USER, or 1000:100 when that is root."""
    config = image_config(image)
    if config is None:
        return EnvironmentImage(slug, image, present=False)
    if cmd:
        config = {**config, "Cmd": [cmd] if isinstance(cmd, str) else list(cmd)}
    user = config.get("User") or ""
    if run_as_user is not None:
        runs_as = run_as_user or user or "0"
    else:
        runs_as = SERVER_USER if is_root(user) else user
    has_singleuser, unchecked = singleuser_on_path(image, runs_as)
    return EnvironmentImage(slug, image, faults=tuple(image_faults(config, has_singleuser, port)),
                            unchecked=unchecked)


# ---------------------------------------------------------------- policy (pure)

def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0].split("-")[0])[:3])


def docker_cli_finding(found: bool) -> Finding:
    if found:
        return Finding("docker", OK, "docker: the docker command is on PATH")
    return Finding("docker", FAIL, "docker: no `docker` command on PATH",
                   f"bash {HOST_SETUP} (installs Docker Engine)")


def daemon_finding(version: str | None, host: str) -> Finding:
    if version is None:
        if host == DEFAULT_DOCKER_HOST:
            start = "dockerd &"
        elif host.startswith("unix://"):
            start = f"dockerd --host {host} &, or unset DOCKER_HOST"
        else:
            start = f"start the daemon at {host}, or unset DOCKER_HOST"
        return Finding("docker", FAIL, f"docker: the daemon at {host} does not answer",
                       f"{start} (or bash {HOST_SETUP})")
    if version_tuple(version) < MIN_DOCKER_VERSION:
        wanted = ".".join(map(str, MIN_DOCKER_VERSION))
        return Finding("docker", WARN, f"docker: engine {version} at {host} is older than {wanted}, the oldest"
                                       " the stack is tested with", "apt-get install -y docker.io")
    return Finding("docker", OK, f"docker: engine {version} at {host}")


def swarm_finding(state: str | None, manager: bool) -> Finding:
    state = state or "unknown"
    if state != "active":
        return Finding("swarm", FAIL, f"swarm: this node is not in an active swarm (state: {state})",
                       "docker swarm init --advertise-addr 127.0.0.1")
    if not manager:
        return Finding("swarm", FAIL, "swarm: this node is a worker; deploying needs a manager",
                       "run mlops-hub on a manager node, or there: docker node promote <this node>")
    return Finding("swarm", OK, "swarm: active, this node is a manager")


def _size(cpus: float, mem: int) -> str:
    return f"{format_cpu(cpus)} CPU{'' if cpus == 1 else 's'} / {format_memory(mem)}"


def nodes_finding(nodes: Sequence[Node], roles: Mapping[str, RolePolicy], platform: str,
                  reserves: Mapping[str, tuple[float, int]] | None = None) -> Finding:
    """Fail when the largest server some role allows fits on no node: it could never start. Warn when
    no node has room now for what that server reserves (`reserves`: role -> CPUs, bytes): it would wait."""
    ready = [n for n in nodes if n.ready]
    if not ready:
        return Finding("nodes", FAIL, f"nodes: none of {len(nodes)} node(s) is ready and active",
                       "docker node ls; docker node update --availability active NODE")
    biggest = max(ready, key=lambda n: (n.mem, n.cpus))
    never = [r for r in roles.values() if not any(n.cpus >= r.max_cpu and n.mem >= r.max_mem for n in ready)]
    if never:
        role = max(never, key=lambda r: (r.max_mem, r.max_cpu))
        names = ", ".join(repr(r.name) for r in never)
        return Finding("nodes", FAIL,
                       f"nodes: role {names} allows servers of up to {_size(role.max_cpu, role.max_mem)}, more than"
                       f" any ready node has (largest: {biggest.name}, {_size(biggest.cpus, biggest.mem)}):"
                       " such a server can never start",
                       f"lower max_cpu/max_mem of role {role.name!r} in {platform}, or add a larger node"
                       " (mlops-hub nodes join-command)")
    if not roles:
        return Finding("nodes", OK, f"nodes: {len(ready)} ready; largest {biggest.name}, "
                                    f"{_size(biggest.cpus, biggest.mem)}")
    largest = max(roles.values(), key=lambda r: (r.max_mem, r.max_cpu))
    waits = [(name, cpu, mem) for name, (cpu, mem) in (reserves or {}).items()
             if not any(n.free_cpus is None or (n.free_cpus >= cpu and n.free_mem >= mem) for n in ready)]
    if waits:
        name, cpu, mem = max(waits, key=lambda w: (w[2], w[1]))
        roomiest = max(ready, key=lambda n: (n.free_mem, n.free_cpus))
        return Finding("nodes", WARN, f"nodes: no node has room now for what role {name!r}'s largest server reserves"
                                      f" ({_size(cpu, mem)}; most free: {roomiest.name},"
                                      f" {_size(roomiest.free_cpus, roomiest.free_mem)}): it waits until others stop",
                       f"docker node ps {roomiest.name} (what reserves it); stop servers or stacks not needed,"
                       " or add a node (mlops-hub nodes join-command)")
    roomiest = max(ready, key=lambda n: (n.free_mem or 0, n.free_cpus or 0))
    free = "" if roomiest.free_cpus is None else f"; most free: {roomiest.name}, " \
                                                 f"{_size(roomiest.free_cpus, roomiest.free_mem)}"
    return Finding("nodes", OK, f"nodes: {len(ready)} ready (largest {biggest.name}, "
                                f"{_size(biggest.cpus, biggest.mem)}{free}); the largest server any role allows"
                                f" fits (role {largest.name!r}: {_size(largest.max_cpu, largest.max_mem)})")


def node_state_problems(nodes: Sequence[Node]) -> list[str]:
    """Each node Swarm places no task on (down, drained, paused), named with why."""
    problems = []
    for n in nodes:
        if n.ready:
            continue
        why = []
        if n.state and n.state != "ready":
            why.append(f"state {n.state}")
        if n.availability and n.availability != "active":
            why.append(f"availability {n.availability}")
        problems.append(f"node {n.name!r} takes no tasks ({', '.join(why) or 'not ready and active'})")
    return problems


def placement_problems(needs: Mapping[str, Sequence[NodeRequirement]], nodes: Sequence[Node]) -> list[str]:
    """For each environment or role (`needs`: its requirements, by what asks), what no ready node has."""
    labels = [dict(n.labels) for n in nodes if n.ready]
    return [problem for wanted in needs.values() if (problem := missing_labels(wanted, labels))]


def with_node_warnings(found: Finding, problems: Sequence[str], platform: str) -> Finding:
    """The nodes finding, warning also about nodes that take no tasks and labels no node has (a FAIL stays one)."""
    if not problems:
        return found
    text = "; ".join(p.rstrip(".") for p in problems)
    fix = ("docker node ls; docker node update --availability active NODE (drained or paused), start Docker on a down"
           " node or remove it (docker node rm NODE); a missing label: docker node update --label-add KEY=VALUE"
           f" NODE, or change node_labels / node_pool in {platform}")
    if found.status == FAIL:
        return Finding(found.check, FAIL, f"{found.message}; also: {text}", found.fix)
    message = f"{found.message}; {text}" if found.status == WARN else f"nodes: {text}"
    return Finding(found.check, WARN, message, fix if found.status != WARN else f"{found.fix}; {fix}")


def images_finding(expected: Mapping[str, str], present: Collection[str]) -> Finding:
    missing = [tag for tag in expected.values() if tag not in present]
    if "debian" in expected and missing:
        return Finding("images", WARN, f"images: {BASE_IMAGE} is not present, so none of this checkout's"
                                       " images is built", "mlops-hub build")
    if missing:
        more = "" if len(expected) > 1 else " (and every image built FROM it)"
        return Finding("images", WARN, f"images: not built for this checkout: {', '.join(missing)}{more};"
                                       " `up` builds them (minutes)", "mlops-hub build")
    return Finding("images", OK, f"images: all {len(expected)} of this checkout present"
                                 f" ({', '.join(sorted(expected))})")


def ports_finding(ports: Sequence[tuple[str, int]], states: Mapping[int, str], ours: Collection[int]) -> Finding:
    problems, fixes = [], []
    for flag, port in ports:
        state = states.get(port, "free")
        if port in ours or state == "free":
            continue
        if state == "in use":
            problems.append(f"{flag}: port {port} is already in use on this host")
            fixes.append(f"choose another: mlops-hub up {flag} N (or see who listens: ss -ltnp 'sport = :{port}')")
        else:
            problems.append(f"{flag}: port {port} {state}")
            fixes.append("run as root (ports below 1024)")
    if problems:
        return Finding("ports", FAIL, "ports: " + "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    held = [str(p) for _, p in ports if p in ours]
    shown = ", ".join(str(p) for _, p in ports)
    return Finding("ports", OK, f"ports: {shown} free" + (f" (or held by this stack: {', '.join(held)})"
                                                           if held else ""))


def secrets_finding(directory: Path, dir_mode: int | None, file_modes: Mapping[str, int | None],
                    up: str) -> Finding:
    if dir_mode is None:
        return Finding("secrets", WARN, f"secrets: none yet in {directory} (first run); `up` generates them", up)
    loose = [str(directory)] if dir_mode & 0o077 else []
    loose += [name for name, mode in file_modes.items() if mode is not None and mode & 0o077]
    if loose:
        return Finding("secrets", FAIL, f"secrets: readable by other users of this host: {', '.join(loose)}",
                       f"chmod 700 {directory} && chmod 600 {directory}/*")
    missing = [name for name, mode in file_modes.items() if mode is None]
    if missing:
        return Finding("secrets", WARN, f"secrets: {', '.join(missing)} missing in {directory};"
                                        " `up` generates them (a missing database password no longer matches"
                                        " the database's)", up)
    return Finding("secrets", OK, f"secrets: {len(file_modes)} in {directory} (0700, files 0600)")


def disk_finding(what: str, path: str, free: int | None) -> Finding:
    check = f"disk ({what})"
    if free is None:
        return Finding(check, WARN, f"{check}: {path} cannot be measured from this host (a remote daemon?)",
                       f"df -h {path}  (on the Docker host)")
    shown = f"{free / GB:.1f} GB free at {path}"
    if free < DISK_FAIL_BELOW:
        return Finding(check, FAIL, f"{check}: only {shown}; a build of the platform's images needs about"
                                    f" {DISK_FAIL_BELOW // GB} GB", "docker system prune  (old images and"
                                                                    " build cache; or free space at " + path + ")")
    if free < DISK_WARN_BELOW:
        return Finding(check, WARN, f"{check}: {shown}; below {DISK_WARN_BELOW // GB} GB a few more builds, the"
                                    " environments' images and the volumes fill it", "docker system prune")
    return Finding(check, OK, f"{check}: {shown}")


def cpu_weight_finding(local: bool, cgroup_driver: str, cgroup_version: str, shares: int | None) -> Finding:
    """The containers' CPU weight together against the host's processes (the `docker` cgroup's cpu.shares)."""
    check = "CPU weight"
    if cgroup_driver == "systemd":
        return Finding(check, OK, "CPU weight: each container is a systemd scope of its own beside dockerd's:"
                                  " nothing to set")
    if not local:
        return Finding(check, SKIP, "CPU weight: not checked (the daemon runs on another host)")
    if cgroup_version != "1":
        return Finding(check, SKIP, f"CPU weight: not checked (cgroup v{cgroup_version or '?'}; only cgroup v1's"
                                    " cpu controller is read)")
    fix = f"bash {HOST_SETUP}  (or: echo {DOCKER_CGROUP_SHARES} > {DOCKER_CGROUP_SHARES_FILE})"
    if shares is None:
        return Finding(check, WARN, f"CPU weight: {DOCKER_CGROUP_SHARES_FILE} cannot be read: the containers' weight"
                                    " is unknown", fix)
    processes = shares / ONE_PROCESS_SHARES
    if shares <= ONE_PROCESS_SHARES:
        return Finding(check, WARN, f"CPU weight: all containers together weigh on the CPU as {processes:g} host"
                                    f" process ({DOCKER_CGROUP_SHARES_FILE}: {shares}); in a storm of server starts,"
                                    " dockerd's own work squeezes the hub, its database and the servers", fix)
    return Finding(check, OK, f"CPU weight: the containers together weigh as {processes:g} host processes"
                              f" ({DOCKER_CGROUP_SHARES_FILE}: {shares})")


def parse_docker_time(text: str) -> dt.datetime | None:
    """Docker's RFC 3339 time with nanoseconds (2026-12-02T12:15:44.976757508Z or +01:00)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text.strip())
    if not match:
        return None
    whole, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return dt.datetime.fromisoformat(f"{whole}.{micro}{zone}")


def clock_finding(daemon_time: dt.datetime | None, host_time: dt.datetime) -> Finding:
    if daemon_time is None:
        return Finding("clock", WARN, "clock: the daemon did not report its time", "docker info")
    skew = (daemon_time - host_time).total_seconds()
    if abs(skew) > CLOCK_WARN_SECONDS:
        way = "ahead of" if skew > 0 else "behind"
        return Finding("clock", WARN, f"clock: the Docker host is {abs(skew):.0f} s {way} this host; TLS"
                                      " certificates, login tokens and cookies depend on agreeing clocks",
                       "apt-get install -y chrony  (on both hosts: keeps clocks in sync)")
    return Finding("clock", OK, f"clock: the daemon's and this host's agree ({skew:+.1f} s)")


def probe_finding(outcome: str, detail: str = "") -> Finding:
    if outcome == OK:
        return Finding("overlay", OK, f"overlay: a probe service reached another by its name over a new"
                                      f" attachable overlay network (dnsrr){detail}")
    if outcome == "no image":
        return Finding("overlay", WARN, f"overlay: not probed: the probe runs on {PROBE_IMAGE}, not built yet",
                       "mlops-hub build")
    return Finding("overlay", FAIL, f"overlay: {detail}",
                   "check the swarm's overlay ports (TCP 2377, 7946, UDP 7946, 4789) and `docker service ps`"
                   " of a stack; on a single node: docker swarm leave --force && docker swarm init"
                   " --advertise-addr 127.0.0.1")


def node_probe_finding(probe: NodeProbe) -> Finding:
    """FAIL naming each node that could not pull the image (or ran nothing); WARN for a node whose clock is off.
    A node's clock was read between `started` and `ended` (this host's): outside that window by more than
    CLOCK_WARN_SECONDS, it disagrees."""
    failed = [f"{a.node} ({a.error or 'its task is ' + (a.state or 'not started')})"
              for a in probe.answers if a.state != "Complete"]
    if failed:
        return Finding("nodes (each)", FAIL, f"nodes (each): cannot run {probe.image} on {'; '.join(failed)}",
                       "on that node: trust the registry's CA or log in to the site's registry (mlops-hub nodes"
                       " join-command says how), check it reaches the registry's address, then mlops-hub doctor")
    skewed = []
    for a in probe.answers:
        if a.clock is not None and a.clock < probe.started - CLOCK_WARN_SECONDS:
            skewed.append(f"{a.node} at least {probe.started - a.clock:.0f} s behind")
        elif a.clock is not None and a.clock > probe.ended + CLOCK_WARN_SECONDS:
            skewed.append(f"{a.node} at least {a.clock - probe.ended:.0f} s ahead")
    if skewed:
        return Finding("nodes (each)", WARN, f"nodes (each): clocks disagree with this host's: {'; '.join(skewed)}",
                       "apt-get install -y chrony  (on every node: keeps clocks in sync)")
    unread = [a.node for a in probe.answers if a.clock is None]
    clocks = f"; clock not read on {', '.join(unread)}" if unread else f"; clocks within {CLOCK_WARN_SECONDS:.0f} s"
    return Finding("nodes (each)", OK if not unread else WARN,
                   f"nodes (each): {len(probe.answers)} node(s) pulled and ran {probe.image}{clocks}",
                   None if not unread else "docker service logs of a global job: check the nodes' log drivers")


def environments_finding(images: Sequence[EnvironmentImage], platform: str) -> Finding:
    """FAIL naming every environment whose image cannot run as a user server, each fault with its fix;
    WARN for images not on this node or not fully checked; else OK."""
    if not images:
        return Finding("environments", OK, f"environments: none with an image in {platform}")
    faulty = [i for i in images if i.faults]
    missing = [i for i in images if not i.present]
    unchecked = [i for i in images if i.present and i.unchecked]
    notes = [f"{i.slug!r} ({i.image}): not on this node, not checked" for i in missing]
    notes += [f"{i.slug!r} ({i.image}): could not look for {SINGLEUSER} ({i.unchecked})" for i in unchecked]
    if faulty:
        problems = [f"{i.slug!r} ({i.image}) [{f.kind}]: {f.message}" for i in faulty for f in i.faults]
        return Finding("environments", FAIL,
                       f"environments: {len(faulty)} of {len(images)} images in {platform} cannot run as user"
                       f" servers: {'; '.join(problems + notes)}",
                       "; ".join(f"{i.slug!r}: {f.fix}" for i in faulty for f in i.faults))
    if notes:
        fix = "mlops-hub build (the platform's images), or docker pull IMAGE (a site's own)" if missing else \
            f"give the image /bin/sh (the spawner starts the server through it) and {SINGLEUSER}"
        return Finding("environments", WARN, f"environments: {'; '.join(notes)}", fix)
    return Finding("environments", OK, f"environments: every environment's image can run as a user server"
                                       f" ({len(images)} checked: {SINGLEUSER} on PATH, an unprivileged USER,"
                                       " the hub's port)")


# ---------------------------------------------------------------- checks (I/O + policy)

def check_docker_cli() -> Finding:
    return docker_cli_finding(shutil.which("docker") is not None)


def check_daemon() -> Finding:
    return daemon_finding(server_version(), docker_host())


def check_docker() -> Finding:
    found = check_docker_cli()
    return found if found.status == FAIL else check_daemon()


def check_swarm(info: dict | None = None) -> Finding:
    info = docker_info() if info is None else info
    if info is None:
        return daemon_finding(None, docker_host())
    swarm = info.get("Swarm") or {}
    return swarm_finding(swarm.get("LocalNodeState"), bool(swarm.get("ControlAvailable")))


def roles_of(platform: Path) -> tuple[Mapping[str, RolePolicy], dict[str, tuple[float, int]]]:
    """platform.yaml's roles, and what each role's largest server reserves (as the spawner computes it)."""
    from ..swarm.spec import reservation  # the hub's dependencies (docker SDK): not needed before this

    spawner = load_platform_file(platform).get("spawner") or {}
    roles = check_spawner_settings(spawner).roles
    mem_guarantee = spawner.get("mem_guarantee")
    mem_guarantee = parse_memory(mem_guarantee) if mem_guarantee is not None else None
    reserves = {name: (reservation(r.max_cpu, spawner.get("cpu_guarantee"), spawner.get("cpu_guarantee_fraction"))
                       or 0.0,
                       reservation(r.max_mem, mem_guarantee, spawner.get("mem_guarantee_fraction")) or 0)
                for name, r in roles.items()}
    return roles, reserves


def check_nodes(platform: Path) -> Finding:
    nodes = node_sizes()
    if nodes is None:
        return Finding("nodes", FAIL, "nodes: `docker node ls` failed (not a swarm manager?)",
                       "docker swarm init --advertise-addr 127.0.0.1")
    roles, reserves = roles_of(platform)
    found = nodes_finding(nodes, roles, str(platform), reserves)
    return with_node_warnings(found, node_state_problems(nodes)
                              + placement_problems(placement_needs(platform), nodes), str(platform))


def placement_needs(platform: Path) -> dict[str, list[NodeRequirement]]:
    """What each environment (its node_labels) and each role (its node_pool) of platform.yaml needs of a node."""
    policy = check_spawner_settings(load_platform_file(platform).get("spawner") or {})
    needs = {f"environment {env.slug}": policy.node_requirements(env, None) for env in policy.catalogue}
    needs.update({f"role {role}": requirements("", (), role, pool) for role, pool in policy.node_pools.items()})
    return {what: wanted for what, wanted in needs.items() if wanted}


def check_environments(platform: Path) -> Finding:
    """Every environment's image in platform.yaml, as the spawner would run it, for the three faults."""
    spawner = load_platform_file(platform).get("spawner") or {}
    catalogue = check_spawner_settings(spawner).catalogue
    port = int(spawner.get("port") or SPAWNER_PORT)
    return environments_finding([inspect_environment(env.slug, env.image, port, spawner.get("cmd"),
                                                     spawner.get("run_as_user"))
                                 for env in catalogue if env.image], str(platform))


def check_images(repo: Path) -> Finding:
    expected = expected_image_tags(repo)
    return images_finding(expected, {tag for tag in expected.values() if image_id(tag)})


def check_ports(stack: str, ports: Sequence[tuple[str, int]]) -> Finding:
    ours = ports_of_stack(stack)
    return ports_finding(ports, {port: port_state(port) for _, port in ports if port not in ours}, ours)


def check_secrets(secrets_dir: Path, up: str) -> Finding:
    try:
        modes = {name: file_mode(secrets_dir / name) for name in SECRET_NAMES}
        return secrets_finding(secrets_dir, file_mode(secrets_dir), modes, up)
    except PermissionError as e:
        return Finding("secrets", FAIL, f"secrets: cannot read {secrets_dir} ({e.strerror})",
                       "run mlops-hub as root (the user that runs `up`)")


def check_disks(state_dir: Path, info: dict | None = None) -> list[Finding]:
    info = docker_info() if info is None else info
    root = (info or {}).get("DockerRootDir") or "/var/lib/docker"
    # a remote daemon's root is not this host's directory of that name
    local = docker_host().startswith("unix://") and Path(root).exists()
    return [disk_finding("Docker's images and volumes", root, free_bytes(Path(root)) if local else None),
            disk_finding("state dir", str(state_dir), free_bytes(state_dir))]


def lab_image_of(stack: str) -> str | None:
    """The lab image the stack's hub starts servers from (by digest when `up` published it); None: not deployed."""
    out = docker("service", "inspect", f"{stack}_hub", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")
    if out.returncode != 0:
        return None
    env = dict(item.partition("=")[::2] for item in json.loads(out.stdout or "null") or [])
    return env.get("MLOPS_LAB_IMAGE") or None


def check_each_node(stack: str, say: Callable[[str], None]) -> Finding:
    image = lab_image_of(stack)
    if image is None:
        return Finding("nodes (each)", SKIP, f"nodes (each): not checked (stack {stack} is not deployed: no image in"
                                             " its registry to pull)")
    return node_probe_finding(probe_nodes(docker, image, say))


def read_shares(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check_cpu_weight(info: dict | None = None) -> Finding:
    info = docker_info() if info is None else info
    driver, version = str((info or {}).get("CgroupDriver") or ""), str((info or {}).get("CgroupVersion") or "")
    local = docker_host().startswith("unix://")
    return cpu_weight_finding(local, driver, version, read_shares(DOCKER_CGROUP_SHARES_FILE) if local else None)


def check_clock() -> Finding:
    before = dt.datetime.now(dt.timezone.utc)
    info = docker_info()
    after = dt.datetime.now(dt.timezone.utc)
    daemon_time = parse_docker_time(str((info or {}).get("SystemTime") or ""))
    # the daemon read its clock during the call: compare with this host's at the call's middle
    return clock_finding(daemon_time, before + (after - before) / 2)


# ---------------------------------------------------------------- the overlay probe

PROBE_SERVER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PROBE_PORT})); s.listen()
while True:
    c, _ = s.accept(); c.sendall(b"{PROBE_PREFIX}"); c.close()
"""
PROBE_CLIENT = f"""
import socket, sys, time
deadline = time.monotonic() + 40
while time.monotonic() < deadline:
    try:
        with socket.create_connection((sys.argv[1], {PROBE_PORT}), timeout=2) as c:
            if c.recv(64) == b"{PROBE_PREFIX}":
                sys.exit(0)
    except OSError as e:
        last = e
    time.sleep(0.3)
sys.exit(f"no answer from {{sys.argv[1]}}: {{last}}")
"""


def remove_probe_objects() -> None:
    """Every probe service and network, this run's and any a killed run left (by the probe's label)."""
    ids = docker("service", "ls", "-q", "--filter", f"label={PROBE_LABEL}").stdout.split()
    if ids:
        docker("service", "rm", *ids)
    deadline = time.monotonic() + 30
    # a network goes once its tasks' containers have stopped (until then this node still lists it)
    while time.monotonic() < deadline:
        nets = docker("network", "ls", "-q", "--filter", f"label={PROBE_LABEL}").stdout.split()
        if not nets:
            return
        docker("network", "rm", *nets)
        time.sleep(0.5)


def _task_state(service: str) -> tuple[str, str]:
    out = docker("service", "ps", service, "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}").stdout
    first = (out.splitlines() or ["|"])[0]
    state, _, error = first.partition("|")
    return state.split(" ")[0], error.strip()


def overlay_probe(say: Callable[[str], None], timeout: float = PROBE_TIMEOUT) -> Finding:
    """Two services on a new attachable overlay network (dnsrr, as the stack's): the client reaches
    the server by its service name. Removes what it made, whatever happens."""
    if not image_id(PROBE_IMAGE):
        return probe_finding("no image")
    name = f"{PROBE_PREFIX}-{secrets.token_hex(3)}"
    server, client = f"{name}-server", f"{name}-client"
    label = ["--label", f"{PROBE_LABEL}=1"]
    service = ["service", "create", "--detach", "--network", name, "--endpoint-mode", "dnsrr",
               "--restart-condition", "none", "--stop-grace-period", "1s", *label]
    say(f"overlay probe: network {name} and two services (a few seconds)")
    try:
        for argv in (["network", "create", "--driver", "overlay", "--attachable", *label, name],
                     [*service, "--name", server, PROBE_IMAGE, "python3", "-c", PROBE_SERVER],
                     [*service, "--name", client, PROBE_IMAGE, "python3", "-c", PROBE_CLIENT, server]):
            proc = docker(*argv)
            if proc.returncode != 0:
                return probe_finding(FAIL, f"`docker {' '.join(argv[:2])}` failed: {proc.stderr.strip()[:200]}")
        deadline = time.monotonic() + timeout
        state, error = "", ""
        while time.monotonic() < deadline:
            state, error = _task_state(client)
            if state == "Complete":
                return probe_finding(OK)
            if state in ("Failed", "Rejected", "Shutdown"):
                break
            time.sleep(0.5)
        why = error or f"its task is {state or 'not scheduled'}"
        return probe_finding(FAIL, f"the probe client did not reach {server} by name within {timeout:.0f} s"
                                   f" ({why})")
    finally:
        remove_probe_objects()
        say("overlay probe: removed")


# ---------------------------------------------------------------- doctor

@dataclass(frozen=True)
class DoctorOptions:
    repo: Path
    stack: str
    state_dir: Path
    platform: Path
    ports: tuple[tuple[str, int], ...]
    probe: bool = True


def _skipped(checks: Iterable[str], why: str) -> list[Finding]:
    return [Finding(check, SKIP, f"{check}: not checked ({why})") for check in checks]


def run_doctor(options: DoctorOptions, say: Callable[[str], None]) -> list[Finding]:
    secrets_dir = options.state_dir / options.stack / "secrets"
    up = f"mlops-hub up --stack {options.stack} --state-dir {options.state_dir}"
    docker_ok = check_docker()
    findings = [docker_ok]
    if docker_ok.status == FAIL:
        findings += _skipped(("swarm", "nodes", "images", "environments"), "no daemon")
        findings.append(ports_finding(options.ports, {p: port_state(p) for _, p in options.ports}, ()))
        findings.append(check_secrets(secrets_dir, up))
        findings += _skipped(("disk (Docker's images and volumes)",), "no daemon")
        findings.append(disk_finding("state dir", str(options.state_dir), free_bytes(options.state_dir)))
        return findings + _skipped(("clock", "CPU weight", "overlay", "nodes (each)"), "no daemon")
    info = docker_info()
    swarm = check_swarm(info)
    findings.append(swarm)
    manager = swarm.status == OK
    findings += [check_nodes(options.platform)] if manager else _skipped(("nodes",), "not a swarm manager")
    findings += [check_images(options.repo), check_environments(options.platform),
                 check_ports(options.stack, options.ports),
                 check_secrets(secrets_dir, up), *check_disks(options.state_dir, info), check_clock(),
                 check_cpu_weight(info)]
    if not options.probe:
        findings += [Finding("overlay", SKIP, "overlay: not probed (--no-probe)"),
                     Finding("nodes (each)", SKIP, "nodes (each): not probed (--no-probe)")]
    elif not manager:
        findings += _skipped(("overlay", "nodes (each)"), "not a swarm manager")
    else:
        findings += [overlay_probe(say), check_each_node(options.stack, say)]
    return findings


MARKS = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}


def report(findings: Sequence[Finding]) -> tuple[str, int]:
    """The lines doctor prints, and its exit code (1 when any check failed)."""
    lines = []
    for f in findings:
        lines.append(f"{MARKS[f.status]}  {f.message}")
        if f.fix and f.status != OK:
            lines.append(f"      fix: {f.fix}")
    count = {s: sum(1 for f in findings if f.status == s) for s in MARKS}
    failed = count[FAIL] > 0
    lines.append(f"doctor: {count[OK]} ok, {count[WARN]} warning(s), {count[FAIL]} failure(s)"
                 + (f", {count[SKIP]} not checked" if count[SKIP] else "")
                 + (": fix the FAIL lines, then run mlops-hub doctor again" if failed else ""))
    return "\n".join(lines) + "\n", 1 if failed else 0
