"""Thin reads of the swarm for `up`, `status` and `logs`: the docker CLI's JSON, turned into observations.

What the observations mean is decided in mlops_hub.deploy.health (services) and
mlops_hub.deploy.status (nodes, user servers, pools); this module only asks Docker.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ..names import LABEL_PREFIX_KEY, LABEL_SERVER_NAME, LABEL_USER
from ..swarm.labels import ServerLabels
from .health import ServiceObs, TaskObs
from .shell import DeployError, run

STACK_LABEL = "com.docker.stack.namespace"


def _inspect(kind: str, ids: Sequence[str]) -> list[dict]:
    """`docker inspect` of objects that may vanish meanwhile: what still exists."""
    if not ids:
        return []
    proc = subprocess.run(["docker", "inspect", "--type", kind, *ids], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout or "[]")
    except ValueError:
        return []


def _ids(*argv: str) -> list[str]:
    return run(["docker", *argv], quiet=True).split()


def parse_time(value: str) -> dt.datetime | None:
    """Docker's RFC 3339 times with nanoseconds (Python takes microseconds)."""
    if not value or value.startswith("0001-"):
        return None
    head, _, rest = value.rstrip("Z").partition(".")
    try:
        return dt.datetime.fromisoformat(head + (f".{rest[:6]}" if rest else "")).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def stack_services(stack: str) -> list[dict]:
    """The stack's services (`docker service inspect`), by name."""
    services = _inspect("service", _ids("service", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack}"))
    return sorted(services, key=lambda s: s["Spec"]["Name"])


def short_name(stack: str, service: dict) -> str:
    return service["Spec"]["Name"].removeprefix(f"{stack}_")


def _replicas(spec: dict) -> int | None:
    mode = spec.get("Mode") or {}
    return None if "Global" in mode else int((mode.get("Replicated") or {}).get("Replicas", 1))


def _has_healthcheck(spec: dict) -> bool:
    check = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Healthcheck") or {}
    return bool(check.get("Test")) and check["Test"][0] != "NONE"


def spec_key(template: dict) -> tuple:
    """What a deploy changes in a task template: a task whose key differs from its service's is of an
    earlier version (the full specs differ in defaults the API fills in on one side only)."""
    container = template.get("ContainerSpec") or {}
    return (container.get("Image"), container.get("Args"), container.get("Command"), sorted(container.get("Env") or []),
            sorted(s.get("SecretName", "") for s in container.get("Secrets") or []),
            sorted(c.get("ConfigName", "") for c in container.get("Configs") or []), template.get("ForceUpdate", 0))


def _task_obs(task: dict, health: dict[str, str], now: dt.datetime, current: tuple) -> TaskObs:
    status = task.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    since = parse_time(status.get("Timestamp", ""))
    return TaskObs(state=str(status.get("State", "new")).lower(), desired=str(task.get("DesiredState", "")).lower(),
                   message=status.get("Err") or status.get("Message") or "", exit_code=container.get("ExitCode"),
                   health=health.get(container.get("ContainerID", "")),
                   running_for=(now - since).total_seconds() if since else 0.0,
                   outdated=spec_key(task.get("Spec") or {}) != current)


def container_health(container_ids: Sequence[str]) -> dict[str, str]:
    """Container id -> State.Health.Status, for the containers on this node that have a healthcheck."""
    found = {}
    for c in _inspect("container", [c for c in container_ids if c]):
        status = ((c.get("State") or {}).get("Health") or {}).get("Status")
        if status:
            found[c["Id"]] = status
    return found


def observe_services(services: Sequence[dict], name_of, since: dt.datetime | None = None) -> list[ServiceObs]:
    """One ServiceObs per service: its current tasks and the history Swarm keeps (ended tasks created
    before `since`, e.g. those of an earlier deploy, are left out)."""
    if not services:
        return []
    # not run(): a service removed since it was listed (a --prune) must not stop the wait
    listed = subprocess.run(["docker", "service", "ps", "-q", "--no-trunc", *[s["ID"] for s in services]],
                            capture_output=True, text=True)
    task_ids = listed.stdout.split()
    tasks = _inspect("task", task_ids)
    if since is not None:
        tasks = [t for t in tasks if (parse_time(t.get("CreatedAt", "")) or since) >= since
                 or str(t.get("DesiredState", "")).lower() == "running"]
    started = [((t.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", "") for t in tasks
               if (t.get("Status") or {}).get("State") in ("starting", "running")]
    health = container_health(started)
    now = dt.datetime.now(dt.timezone.utc)
    by_service: dict[str, list[dict]] = {}
    for t in sorted(tasks, key=lambda t: t.get("CreatedAt", "")):
        by_service.setdefault(t.get("ServiceID", ""), []).append(t)
    return [ServiceObs(name_of(s), _replicas(s["Spec"]), _has_healthcheck(s["Spec"]),
                       tuple(_task_obs(t, health, now, spec_key(s["Spec"].get("TaskTemplate") or {}))
                             for t in by_service.get(s["ID"], [])),
                       *_update_status(s))
            for s in services]


def _update_status(service: dict) -> tuple[str, str, str, int]:
    """UpdateStatus (state, message) and the restart policy (condition, max attempts)."""
    status = service.get("UpdateStatus") or {}
    policy = (service["Spec"].get("TaskTemplate") or {}).get("RestartPolicy") or {}
    return (str(status.get("State", "")), str(status.get("Message", "")), str(policy.get("Condition") or "any"),
            int(policy.get("MaxAttempts") or 0))


def service_logs(service: str, tail: int, follow: bool = False) -> list[str]:
    """`docker service logs` argv (stdout and stderr of every task, with task names)."""
    return ["docker", "service", "logs", "--tail", str(tail), "--no-trunc", *(["--follow"] if follow else []), service]


def last_log_lines(service: str, tail: int = 20, timeout: float = 20) -> str:
    """The service's last log lines; from its containers on this node when `docker service logs` hangs
    (seen on engine 20.10 after tasks were removed)."""
    try:
        proc = subprocess.run(service_logs(service, tail), capture_output=True, text=True, timeout=timeout)
        return (proc.stdout + proc.stderr).rstrip()
    except subprocess.TimeoutExpired:
        pass
    newest_first = ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.swarm.service.name={service}"]
    containers = subprocess.run(newest_first, capture_output=True, text=True).stdout.split()
    if not containers:
        return f"(`docker service logs {service}` did not answer within {timeout:.0f}s)"
    proc = subprocess.run(["docker", "logs", "--tail", str(tail), containers[0]], capture_output=True, text=True,
                          timeout=timeout)
    return (proc.stdout + proc.stderr).rstrip()


# ---------------------------------------------------------------- nodes and user servers

@dataclass(frozen=True)
class NodeView:
    hostname: str
    role: str
    availability: str
    state: str
    cpus: float
    memory: int
    leader: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # the node's labels (docker node update --label-add), by key
    # capacity minus the reservations of the tasks running there (what Swarm places by); None: not read
    free_cpus: float | None = None
    free_memory: int | None = None


def node_view(raw: dict, reserved: tuple[float, int] | None = None) -> NodeView:
    """One node of `docker node inspect`, with what its running tasks reserve (doctor.reserved_on)."""
    spec, desc = raw.get("Spec") or {}, raw.get("Description") or {}
    resources = desc.get("Resources") or {}
    cpus, memory = (resources.get("NanoCPUs") or 0) / 1e9, int(resources.get("MemoryBytes") or 0)
    return NodeView(desc.get("Hostname", raw.get("ID", "?")[:12]), spec.get("Role", "?"), spec.get("Availability", "?"),
                    (raw.get("Status") or {}).get("State", "?"), cpus, memory,
                    leader=bool((raw.get("ManagerStatus") or {}).get("Leader")),
                    labels=tuple(sorted((str(k), str(v)) for k, v in (spec.get("Labels") or {}).items())),
                    free_cpus=None if reserved is None else cpus - reserved[0],
                    free_memory=None if reserved is None else memory - reserved[1])


def nodes(free: bool = False) -> list[NodeView]:
    """The swarm's nodes; with `free`, also what the tasks running on each reserve (one more call per node)."""
    from .doctor import reserved_on  # doctor's read of a node's reservations, shared with its `nodes` check

    found = [node_view(n, reserved_on(n["ID"]) if free else None) for n in _inspect("node", _ids("node", "ls", "-q"))]
    return sorted(found, key=lambda n: n.hostname)


@dataclass(frozen=True)
class ServerView:
    service: str  # the Swarm service's name (what `docker service logs` takes)
    labels: ServerLabels
    created: dt.datetime | None
    running: bool


def user_servers(prefix: str) -> list[ServerView]:
    """The user servers one hub started, from their services' labels."""
    services = _inspect("service", _ids("service", "ls", "-q", "--filter", f"label={LABEL_PREFIX_KEY}={prefix}"))
    if not services:
        return []
    running = set()
    for line in run(["docker", "service", "ls", "--filter", f"label={LABEL_PREFIX_KEY}={prefix}",
                     "--format", "{{.ID}} {{.Replicas}}"], quiet=True).splitlines():
        sid, _, replicas = line.partition(" ")
        if replicas.split("/")[0].strip() not in ("", "0"):
            running.add(sid)
    found = []
    for s in services:
        labels = ServerLabels.from_service(s) or _unsized(s, prefix)
        if labels is None:
            continue
        found.append(ServerView(s["Spec"]["Name"], labels, parse_time(s.get("CreatedAt", "")),
                                any(s["ID"].startswith(r) for r in running)))
    return sorted(found, key=lambda v: (v.labels.user, v.labels.server))


def _unsized(service: dict, prefix: str) -> ServerLabels | None:
    """A server started without a role policy: its user label only."""
    labels = (service.get("Spec") or {}).get("Labels") or {}
    user = labels.get(LABEL_USER)
    return ServerLabels(prefix, user, labels.get(LABEL_SERVER_NAME, "")) if user else None


def edge_https_port(stack: str) -> int | None:
    """The https port the stack's edge publishes (target 443), for the hub's API from this host."""
    try:
        out = run(["docker", "service", "inspect", f"{stack}_edge", "--format", "{{json .Spec.EndpointSpec.Ports}}"],
                  quiet=True)
    except DeployError:
        return None
    for port in json.loads(out or "null") or []:
        if port.get("TargetPort") == 443 and port.get("PublishedPort"):
            return int(port["PublishedPort"])
    return None
