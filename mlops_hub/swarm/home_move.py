"""Copy a user's local home volume from one node to another (`mlops-hub home move`).

The CLI talks to the manager only, and a local volume is reachable only on its own node: two one-shot services do
the copy, a sender on the old node (the volume read-only, `tar -c`) and a receiver on the new one (`tar -x`,
owners and modes kept), over an overlay network of their own. Both are removed afterwards, whatever happened; the
old volume stays where it was, as a copy to fall back on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import docker
from docker.types import EndpointSpec, Mount, RestartPolicy, TaskTemplate
from docker.types import Placement as PlacementSpec

from ..names import LABEL_MANAGED, LABEL_PREFIX_KEY, label
from ..policy.home_node import home_constraint

COPY_PORT = 7070
MOUNT = "/move"
TERMINAL = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}

# the receiver: an empty volume (or --replace-stale-copy), then one connection's tar stream, extracted as root
RECEIVE = f"""
import os, socket, subprocess, sys
if os.listdir({MOUNT!r}):
    if os.environ.get("REPLACE") != "1":
        sys.exit("the volume on the new node already holds files (an older copy?): to replace them, run again"
                 " with --replace-stale-copy")
    subprocess.run(["find", {MOUNT!r}, "-mindepth", "1", "-delete"], check=True)
server = socket.create_server(("", {COPY_PORT}))
server.settimeout(600)
conn, _ = server.accept()
tar = subprocess.Popen(["tar", "-x", "-p", "--numeric-owner", "-C", {MOUNT!r}], stdin=subprocess.PIPE)
total = 0
with conn:
    while chunk := conn.recv(1 << 20):
        tar.stdin.write(chunk)
        total += len(chunk)
tar.stdin.close()
if tar.wait() != 0:
    sys.exit(f"unpacking failed (tar exit {{tar.returncode}}) after {{total}} bytes")
print(f"received {{total}} bytes", flush=True)
"""

# the sender: waits for the receiver's name to resolve and its port to open, then streams the volume
SEND = f"""
import os, socket, subprocess, sys, time
deadline = time.monotonic() + 300
while True:
    try:
        conn = socket.create_connection((os.environ["RECEIVER"], {COPY_PORT}), timeout=10)
        break
    except OSError as e:
        if time.monotonic() > deadline:
            sys.exit(f"cannot reach the new node's receiver: {{e}}")
        time.sleep(1)
tar = subprocess.Popen(["tar", "-c", "--numeric-owner", "-C", {MOUNT!r}, "."], stdout=subprocess.PIPE)
total = 0
while chunk := tar.stdout.read(1 << 20):
    conn.sendall(chunk)
    total += len(chunk)
conn.shutdown(socket.SHUT_WR)
conn.recv(1)
if tar.wait() != 0:
    sys.exit(f"packing failed (tar exit {{tar.returncode}}) after {{total}} bytes")
print(f"sent {{total}} bytes", flush=True)
"""


class MoveFailed(RuntimeError):
    """The copy did not complete; the message says which side failed and why."""


@dataclass(frozen=True)
class HomeCopy:
    prefix: str
    volume: str  # the home volume's name (the same on both nodes)
    image: str  # one with python3 and GNU tar that every node can pull (the hub's, by digest)
    source_node: str  # node IDs
    target_node: str
    replace_stale_copy: bool = False


def _service(client: docker.APIClient, copy: HomeCopy, role: str, network: str, node: str, script: str,
             env: dict[str, str], read_only: bool) -> str:
    labels = {LABEL_PREFIX_KEY: copy.prefix, LABEL_MANAGED: "true", label("home-move"): role}
    volume_labels = {LABEL_PREFIX_KEY: copy.prefix, LABEL_MANAGED: "true", label("volume"): "home"}
    mount = Mount(MOUNT, copy.volume, type="volume", read_only=read_only, labels=volume_labels)
    spec = docker.types.ContainerSpec(copy.image, ["python3", "-c", script], user="0:0", env=env, mounts=[mount])
    template = TaskTemplate(spec, restart_policy=RestartPolicy(condition="none"),
                            placement=PlacementSpec(constraints=[home_constraint(node)]))
    name = f"{copy.prefix}-home-move-{role}"
    client.create_service(template, name=name, labels=labels, networks=[network],
                          endpoint_spec=EndpointSpec(mode="dnsrr"))
    return name


def _task(client: docker.APIClient, service: str) -> dict | None:
    tasks = client.tasks(filters={"service": service})
    return max(tasks, key=lambda t: t["CreatedAt"]) if tasks else None


def _output(client: docker.APIClient, service: str) -> str:
    try:
        raw = client.service_logs(service, stdout=True, stderr=True, tail=5)
    except docker.errors.APIError:
        return ""
    return (raw if isinstance(raw, bytes) else b"".join(raw)).decode("utf8", "replace").strip()


def copy_home(client: docker.APIClient, copy: HomeCopy, say: Callable[[str], None],
              wait_at_most: float = 3600.0) -> str:
    """Copy the volume; the receiver's last line ("received N bytes"), or MoveFailed. Nothing is left running."""
    network = f"{copy.prefix}-home-move"
    services: list[str] = []
    client.create_network(network, driver="overlay", labels={LABEL_PREFIX_KEY: copy.prefix, LABEL_MANAGED: "true"})
    try:
        receiver = _service(client, copy, "receive", network, copy.target_node, RECEIVE,
                            {"REPLACE": "1" if copy.replace_stale_copy else "0"}, read_only=False)
        services.append(receiver)
        services.append(_service(client, copy, "send", network, copy.source_node, SEND, {"RECEIVER": receiver},
                                 read_only=True))
        started, said = time.monotonic(), 0.0
        while True:
            tasks = {name: _task(client, name) for name in services}
            states = {name: (task or {}).get("Status", {}).get("State", "new") for name, task in tasks.items()}
            failed = [name for name, state in states.items() if state in TERMINAL and state != "complete"]
            if failed:
                name = failed[0]
                err = tasks[name]["Status"].get("Err") or "exited"
                raise MoveFailed(f"{name} {states[name]}: {err}; its output: {_output(client, name) or '(none)'}")
            if all(state == "complete" for state in states.values()):
                lines = _output(client, receiver).splitlines()
                return lines[-1] if lines else "copied"
            waited = time.monotonic() - started
            if waited > wait_at_most:
                raise MoveFailed(f"the copy did not end within {wait_at_most:.0f} s (tasks: {states})")
            if waited - said >= 10:
                said = waited
                say(f"copying ({waited:.0f} s; sender {states[services[-1]]}, receiver {states[receiver]})")
            time.sleep(1)
    finally:
        for name in services:
            try:
                client.remove_service(name)
            except docker.errors.NotFound:
                pass
        _remove_network(client, network)


def _remove_network(client: docker.APIClient, network: str) -> None:
    # the services' tasks leave the network a moment after the services are removed
    for _ in range(30):
        try:
            client.remove_network(network)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(1)
