"""Rebuild pool usage from the user services Swarm runs (after a hub restart)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from ..policy.pools import Charge
from ..swarm.spec import label

DockerCall = Callable[..., Awaitable]


def charge_from_service(service: dict) -> Charge | None:
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    role = labels.get(label("role"))
    user = labels.get(label("user"))
    if not role or not user:
        return None
    limits = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Limits") or {}
    try:
        cpu = float(labels[label("cpu")])
    except (KeyError, ValueError):
        cpu = (limits.get("NanoCPUs") or 0) / 1e9  # a service from before the labels existed
    try:
        mem = int(labels[label("mem")])
    except (KeyError, ValueError):
        mem = int(limits.get("MemoryBytes") or 0)
    return Charge(user, labels.get(label("server-name"), ""), role, round(cpu, 3), mem,
                  labels.get(label("environment"), ""))


def charges_from_services(services: list[dict]) -> list[Charge]:
    return [c for c in map(charge_from_service, services) if c is not None]


async def load_running(docker_call: DockerCall, prefix: str) -> list[Charge]:
    services = await docker_call("services", filters={"label": [f"{label('prefix')}={prefix}"]})
    return charges_from_services(services)


def threaded_docker_call(client) -> DockerCall:
    """`docker_call(method, *args, **kwargs)` on a docker.APIClient, off the event loop."""

    async def call(method: str, *args, **kwargs):
        return await asyncio.to_thread(functools.partial(getattr(client, method), *args, **kwargs))

    return call
