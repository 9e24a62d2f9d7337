"""Build the Swarm service spec of a user server from already-validated values."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Placement,
    Resources,
    RestartPolicy,
    TaskTemplate,
)

from ..policy.placement import merge_constraints
from .endpoint import endpoint_kwargs

# Swarm refuses longer service names; a service name is also a DNS label
MAX_SERVICE_NAME = 63


def fit_service_name(name: str) -> str:
    """`name` when Swarm accepts it, else its start and a hash of all of it: stable and still unique.

    dockerspawner escapes each non-ASCII byte as three characters, so a Cyrillic user name of nine
    letters already passes the limit.
    """
    if len(name) <= MAX_SERVICE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_SERVICE_NAME - 11].rstrip('-')}-{digest}"


@dataclass
class ServerSpec:
    """Everything the service needs; the spawner fills it from its traits and the request."""

    name: str
    image: str
    # arguments after the image's ENTRYPOINT, as dockerspawner passes them
    args: list[str]
    env: dict[str, str]
    network: str = ""
    user: str | None = None
    cpu_limit: float | None = None
    cpu_reservation: float | None = None
    mem_limit: int | None = None
    mem_reservation: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    mounts: list[Any] = field(default_factory=list)
    secrets: list[Any] = field(default_factory=list)
    configs: list[Any] = field(default_factory=list)
    # dockerspawner's extra_* traits keep their meaning: merged last, admin wins
    extra_container_spec: dict = field(default_factory=dict)
    extra_resources_spec: dict = field(default_factory=dict)
    extra_placement_spec: dict = field(default_factory=dict)
    # Swarm constraints from the environment's node labels and the role's node pool, added to the admin's
    constraints: list[str] = field(default_factory=list)
    extra_task_spec: dict = field(default_factory=dict)
    extra_endpoint_spec: dict = field(default_factory=dict)
    # dockerspawner's networking: publish `port` unless the hub uses the task's own IP
    use_internal_ip: bool = True
    port: int = 8888
    published_port_mode: str = "host"
    extra_create_kwargs: dict = field(default_factory=dict)


def nano_cpus(cpu: float | None) -> int | None:
    return round(cpu * 1e9) if cpu else None  # round: 1.001 * 1e9 is 1000999999.99...


def reservation(limit: float | int | None, absolute, fraction: float | None):
    """Reservation from an absolute guarantee or a fraction of the limit, never above the limit."""
    if limit is None:
        return absolute or None
    if absolute:
        return min(absolute, limit)
    if fraction:
        return type(limit)(limit * fraction)
    return None


def build_service_kwargs(spec: ServerSpec) -> dict[str, Any]:
    """Keyword arguments for docker.APIClient.create_service."""
    container_kwargs: dict[str, Any] = dict(
        image=spec.image,
        args=spec.args or None,
        env=spec.env,
        mounts=spec.mounts or None,
        secrets=spec.secrets or None,
        configs=spec.configs or None,
        labels=spec.labels,
    )
    if spec.user:
        container_kwargs["user"] = spec.user
    container_kwargs.update(spec.extra_container_spec)

    resources_kwargs: dict[str, Any] = dict(
        cpu_limit=nano_cpus(spec.cpu_limit),
        cpu_reservation=nano_cpus(spec.cpu_reservation),
        mem_limit=spec.mem_limit,
        mem_reservation=spec.mem_reservation,
    )
    resources_kwargs.update(spec.extra_resources_spec)

    task_kwargs: dict[str, Any] = dict(
        container_spec=ContainerSpec(**container_kwargs),
        resources=Resources(**resources_kwargs),
        # a crashing server is reported to the user, not restarted in a loop
        restart_policy=RestartPolicy(condition="none"),
        networks=[spec.network] if spec.network else [],
        placement=Placement(**merge_constraints(spec.extra_placement_spec, spec.constraints)),
    )
    task_kwargs.update(spec.extra_task_spec)

    endpoint = endpoint_kwargs(
        network_name=spec.network, use_internal_ip=spec.use_internal_ip, port=spec.port,
        extra_endpoint_spec=spec.extra_endpoint_spec, publish_mode=spec.published_port_mode,
    )

    kwargs: dict[str, Any] = dict(
        name=spec.name,
        task_template=TaskTemplate(**task_kwargs),
        endpoint_spec=EndpointSpec(**endpoint),
        labels=spec.labels,
    )
    kwargs.update(spec.extra_create_kwargs)
    return kwargs
