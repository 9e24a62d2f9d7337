"""Docker I/O of a model release: build the serving image, create or update `model-<name>`, and wait for Swarm's
verdict on the rollout (policy/model_release.py says what; this module only talks to Docker)."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Healthcheck,
    Resources,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from ..policy.model_release import HEALTH_CHECK, STOP_GRACE_SECONDS, ModelService, rolled_back, serving_dockerfile
from ..policy.units import format_memory

SECOND = 1_000_000_000  # Docker's durations are in nanoseconds
RESERVED_FRACTION = 0.25  # a replica reserves a quarter of its limits: placement room, as user servers do


class BuildFailed(RuntimeError):
    """The serving image did not build; the message has Docker's last lines."""


def build_serving_image(client: docker.APIClient, model_dir: Path, base_image: str, tag: str,
                        say: Callable[[str], None]) -> str:
    """Build `tag` from the model's files (MLflow's model directory) on top of `base_image`; the image ID."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = serving_dockerfile(base_image).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(model_dir), arcname="model")
    context.seek(0)
    image_id, last = "", []
    for event in client.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True,
                              pull=False):
        if event.get("error"):
            raise BuildFailed(f"building {tag} failed: {event['error'].strip()} ({' '.join(last[-3:])})")
        text = (event.get("stream") or "").strip()
        if text:
            last.append(text)
            if text.startswith("Step "):
                say(text)
        image_id = (event.get("aux") or {}).get("ID", image_id)
    if not image_id:
        raise BuildFailed(f"building {tag}: Docker reported no image ({' '.join(last[-3:])})")
    return image_id


def _task_template(spec: ModelService, force_update: int = 0) -> TaskTemplate:
    container = ContainerSpec(spec.image, labels=spec.labels, stop_grace_period=STOP_GRACE_SECONDS * SECOND,
                              healthcheck=Healthcheck(test=HEALTH_CHECK, interval=3 * SECOND, timeout=3 * SECOND,
                                                      retries=3, start_period=60 * SECOND))
    resources = Resources(cpu_limit=int(spec.cpu * 1e9), mem_limit=spec.mem,
                          cpu_reservation=int(spec.cpu * RESERVED_FRACTION * 1e9),
                          mem_reservation=int(spec.mem * RESERVED_FRACTION))
    return TaskTemplate(container, resources=resources, networks=[spec.network], force_update=force_update,
                        restart_policy=RestartPolicy(condition="any", delay=2 * SECOND, max_attempts=0))


def _update_kwargs(spec: ModelService) -> dict:
    # start-first: the old version answers until the new one is healthy; a failure within `monitor` rolls back
    return dict(
        update_config=UpdateConfig(parallelism=1, delay=0, failure_action="rollback", order="start-first",
                                   monitor=spec.monitor_seconds * SECOND, max_failure_ratio=0),
        rollback_config=RollbackConfig(parallelism=1, delay=0, failure_action="pause", order="start-first",
                                       monitor=spec.monitor_seconds * SECOND),
    )


@dataclass(frozen=True)
class Deployed:
    how: str  # created, updated
    previous_update: str = ""  # when the update before this one started (its UpdateStatus is not this one's)


def running_service_labels(client: docker.APIClient, name: str) -> dict[str, str] | None:
    """The labels of the service `name` when it exists (a model served now), else None."""
    found = [s for s in client.services(filters={"name": name}) if s["Spec"]["Name"] == name]
    return dict(found[0]["Spec"].get("Labels") or {}) if found else None


def deploy_model_service(client: docker.APIClient, spec: ModelService) -> Deployed:
    """Create `spec.name`, or update it to the new image, size and labels."""
    existing = client.services(filters={"name": spec.name})
    existing = [s for s in existing if s["Spec"]["Name"] == spec.name]
    labels = {**spec.labels}
    if not existing:
        client.create_service(_task_template(spec), name=spec.name, labels=labels,
                              mode=ServiceMode("replicated", replicas=spec.replicas),
                              endpoint_spec=EndpointSpec(mode="dnsrr"), **_update_kwargs(spec))
        return Deployed("created")
    current = existing[0]
    # always a rolling update, so Swarm judges it (UpdateStatus): the same version again, or other replicas
    # only, would otherwise change no task and leave no verdict to wait for
    force = (current["Spec"]["TaskTemplate"].get("ForceUpdate") or 0) + 1
    client.update_service(current["ID"], current["Version"]["Index"], task_template=_task_template(spec, force),
                          name=spec.name, labels=labels, mode=ServiceMode("replicated", replicas=spec.replicas),
                          endpoint_spec=EndpointSpec(mode="dnsrr"), **_update_kwargs(spec))
    return Deployed("updated", (current.get("UpdateStatus") or {}).get("StartedAt", ""))


@dataclass(frozen=True)
class Rollout:
    state: str  # completed, rollback_completed, paused, rollback_paused, created
    message: str
    image: str  # what the service runs now

    @property
    def rolled_back(self) -> bool:
        return rolled_back(self.state)


def _healthy_tasks(client: docker.APIClient, name: str, image: str) -> int:
    # with a health check, Swarm keeps a task "starting" until the check passes: "running" means it answers
    tasks = client.tasks(filters={"service": name, "desired-state": "running"})
    return sum(1 for t in tasks if t["Spec"]["ContainerSpec"]["Image"] == image and t["Status"]["State"] == "running")


def wait_rollout(client: docker.APIClient, spec: ModelService, deployed: Deployed, say: Callable[[str], None],
                 wait_at_most: float = 600.0) -> Rollout:
    """Swarm's verdict: a new service once its replicas answer their health check; an update once Swarm says it
    completed or rolled back (UpdateStatus)."""
    started, said = time.monotonic(), 0.0
    while time.monotonic() - started < wait_at_most:
        service = client.inspect_service(spec.name)
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        if deployed.how == "created":
            if _healthy_tasks(client, spec.name, spec.image) >= spec.replicas:
                return Rollout("created", f"{spec.replicas} replica(s) answer their health check", image)
        else:
            status = service.get("UpdateStatus") or {}
            state = status.get("State", "") if status.get("StartedAt", "") != deployed.previous_update else ""
            if state in ("completed", "rollback_completed", "paused", "rollback_paused"):
                return Rollout(state, status.get("Message", ""), image)
        waited = time.monotonic() - started
        if waited - said >= 10:
            said = waited
            say(f"{spec.name}: waiting for the new version to answer its health check ({waited:.0f} s)")
        time.sleep(1)
    raise TimeoutError(f"{spec.name}: no verdict from Swarm within {wait_at_most:.0f} s"
                       f" (docker service ps {spec.name}; memory limit {format_memory(spec.mem)})")
