"""`mlops-hub nodes join-command`: what to run on a new machine so it joins this swarm as a worker.

`join_instructions` is pure (unit-tested); `worker_join_token` and `manager_address` are the thin reads.
The token lets any machine join the swarm: it is printed to stdout by this command only, never logged.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..names import LABEL_NODE_POOL
from .doctor import docker, docker_info
from .shell import DeployError

SWARM_PORT = 2377  # the managers' cluster-management port workers join through


@dataclass(frozen=True)
class JoinInstructions:
    command: str  # the worker join command, with the token: for stdout only
    notes: tuple[str, ...]  # what the machine needs first, how to label it
    warning: str = ""  # why no machine can join as things are, and the fix; '' when one can


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


def join_instructions(token: str, manager_addr: str, registry: str | None = None,
                      ca_file: str = "/var/lib/mlops-hub/ca/ca.crt") -> JoinInstructions:
    """`registry`: the address of the stack's own registry (None when `up` deployed none); `ca_file`: the
    platform's CA on this manager, which the new machine's Docker must trust for that registry."""
    host = f"[{manager_addr}]" if ":" in manager_addr else manager_addr
    if registry:
        images = (f"Its Docker pulls the platform's images from the registry at {registry}, signed by the platform's"
                  f" CA: put that CA there first: mkdir -p /etc/docker/certs.d/{registry} and copy {ca_file} from"
                  f" this manager to /etc/docker/certs.d/{registry}/ca.crt on it (e.g. scp).")
    else:
        images = ("This stack has no registry of its own: if its images are in your site's registry, run `docker"
                  " login` for it on the new machine; if `up` ran with --no-registry, servers cannot start there"
                  " (run `mlops-hub up` without it).")
    notes = (
        "The new machine needs Docker Engine first (bash scripts/host-setup.sh installs it; its swarm ports TCP"
        f" {SWARM_PORT}, TCP/UDP 7946 and UDP 4789 open to this one).",
        images,
        "Then, here on the manager, label it for the environments and pools that need it, e.g.: docker node update"
        f" --label-add gpu=true NODE, or docker node update --label-add {LABEL_NODE_POOL}=etl NODE"
        " (mlops-hub nodes shows every node's labels).",
    )
    warning = ""
    if is_loopback(manager_addr):
        warning = (f"this swarm's manager advertises {manager_addr}, a loopback address (single-node mode): no other"
                   " machine can join it. To add nodes, make the swarm anew with an address the other machines"
                   " reach: docker swarm leave --force && docker swarm init --advertise-addr <this machine's IP>,"
                   " then mlops-hub up (leaving removes the stack's services and the running user servers; volumes"
                   " and the state directory stay).")
    return JoinInstructions(f"docker swarm join --token {token} {host}:{SWARM_PORT}", notes, warning)


def worker_join_token() -> str:
    """`docker swarm join-token -q worker` (only a manager can answer)."""
    proc = docker("swarm", "join-token", "-q", "worker")
    token = proc.stdout.strip()
    if proc.returncode != 0 or not token:
        # Docker's error carries no token; say what failed and how to fix it
        raise DeployError(f"cannot read the worker join token ({proc.stderr.strip()[:200] or 'no answer'}); run this"
                          " on a swarm manager")
    return token


def manager_address() -> str:
    """The address this manager advertises to the swarm (`docker info`'s Swarm.NodeAddr)."""
    address = ((docker_info() or {}).get("Swarm") or {}).get("NodeAddr") or ""
    if not address:
        raise DeployError("docker info reports no swarm address: is this node a swarm manager?")
    return address
