"""The labels on a user server's Swarm service: written at create, read back after a hub restart.

Whoever writes a label also reads it: team pool usage is rebuilt from these after a restart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..names import (
    LABEL_CPU,
    LABEL_ENVIRONMENT,
    LABEL_KIND,
    LABEL_MANAGED,
    LABEL_MEM,
    LABEL_MODEL,
    LABEL_PREFIX_KEY,
    LABEL_RELEASED_BY,
    LABEL_ROLE,
    LABEL_SERVER_NAME,
    LABEL_SERVICE,
    LABEL_USER,
    MODEL_KIND,
)

DockerCall = Callable[..., Awaitable]


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ServerLabels:
    """Who a server belongs to and, when a policy chose its size, what it holds."""

    prefix: str
    user: str
    server: str = ""
    environment: str = ""
    role: str = ""
    cpu: float | None = None
    mem: int | None = None

    def as_labels(self) -> dict[str, str]:
        labels = {LABEL_MANAGED: "true", LABEL_PREFIX_KEY: self.prefix, LABEL_USER: self.user,
                  LABEL_SERVER_NAME: self.server}
        if self.role:
            labels.update({LABEL_ENVIRONMENT: self.environment, LABEL_ROLE: self.role})
        if self.cpu is not None and self.mem is not None:
            labels.update({LABEL_CPU: _number(self.cpu), LABEL_MEM: str(self.mem)})
        return labels

    @classmethod
    def from_service(cls, service: dict) -> ServerLabels | None:
        """The labels of a service we started; None for one without a user or role."""
        spec = service.get("Spec") or {}
        labels = spec.get("Labels") or {}
        role, user = labels.get(LABEL_ROLE), labels.get(LABEL_USER)
        if not role or not user:
            return None
        limits = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Limits") or {}
        try:
            cpu = float(labels[LABEL_CPU])
        except (KeyError, ValueError):
            cpu = (limits.get("NanoCPUs") or 0) / 1e9  # a service from before the labels existed
        try:
            mem = int(labels[LABEL_MEM])
        except (KeyError, ValueError):
            mem = int(limits.get("MemoryBytes") or 0)
        return cls(labels.get(LABEL_PREFIX_KEY, ""), user, labels.get(LABEL_SERVER_NAME, ""),
                   labels.get(LABEL_ENVIRONMENT, ""), role, round(cpu, 3), mem)


def prefix_selector(prefix: str) -> dict[str, list[str]]:
    """A Docker filter for the objects of one hub."""
    return {"label": [f"{LABEL_PREFIX_KEY}={prefix}"]}


def token_secret_labels(prefix: str, service_name: str) -> dict[str, str]:
    return {LABEL_PREFIX_KEY: prefix, LABEL_SERVICE: service_name, LABEL_KIND: "api-token"}


JOB_KIND = "job"  # LABEL_KIND of a notebook job's service (Airflow starts it; docs/scheduling.md)


def job_labels(server: ServerLabels) -> dict[str, str]:
    """A job's service: a server's labels (so pools count it) and its kind."""
    return {**server.as_labels(), LABEL_KIND: JOB_KIND}


def _is_job(service: dict) -> bool:
    return ((service.get("Spec") or {}).get("Labels") or {}).get(LABEL_KIND) == JOB_KIND


def _not_a_server(service: dict) -> bool:
    return ((service.get("Spec") or {}).get("Labels") or {}).get(LABEL_KIND) in (JOB_KIND, MODEL_KIND)


async def running_servers(docker_call: DockerCall, prefix: str) -> list[ServerLabels]:
    """The servers of one hub that Swarm runs, from their labels (notebook jobs are not servers)."""
    services = await docker_call("services", filters=prefix_selector(prefix))
    found = (ServerLabels.from_service(s) for s in services if not _not_a_server(s))
    return [server for server in found if server is not None]


async def running_jobs(docker_call: DockerCall, prefix: str) -> list[ServerLabels]:
    """The notebook jobs of one hub that Swarm runs now."""
    selector = {"label": [*prefix_selector(prefix)["label"], f"{LABEL_KIND}={JOB_KIND}"]}
    services = await docker_call("services", filters=selector)
    return [found for found in map(ServerLabels.from_service, services) if found is not None]


async def running_models(docker_call: DockerCall, prefix: str) -> list[ServerLabels]:
    """The served models of one hub, each as one claim on its team pool: every replica's limits, under the user
    who released it last (server `model:<name>`)."""
    selector = {"label": [*prefix_selector(prefix)["label"], f"{LABEL_KIND}={MODEL_KIND}"]}
    claims = []
    for service in await docker_call("services", filters=selector):
        spec = service.get("Spec") or {}
        labels = spec.get("Labels") or {}
        role, user = labels.get(LABEL_ROLE), labels.get(LABEL_RELEASED_BY)
        if not role or not user:
            continue  # released without a team pool
        limits = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Limits") or {}
        replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
        claims.append(ServerLabels(prefix, user, f"model:{labels.get(LABEL_MODEL, spec.get('Name', ''))}", "", role,
                                   round(replicas * (limits.get("NanoCPUs") or 0) / 1e9, 3),
                                   replicas * int(limits.get("MemoryBytes") or 0)))
    return claims


def threaded_docker_call(client) -> DockerCall:
    """`docker_call(method, *args, **kwargs)` on a docker.APIClient, off the event loop."""

    async def call(method: str, *args, **kwargs):
        return await asyncio.to_thread(functools.partial(getattr(client, method), *args, **kwargs))

    return call
