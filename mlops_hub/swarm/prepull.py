"""Environment images pulled on every node before anyone spawns there, as Zero to JupyterHub's image puller does.

One Swarm service per environment, in global mode: a task on every node that takes tasks, including a node
that joins later, which pulls the image and exits at once (`true`; restart condition none, so it stays
`complete`). A changed image updates the service, and every node pulls again. No reservations: the task
runs for a moment and must not take room a server needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import docker
from docker.types import ContainerSpec as DockerContainerSpec
from docker.types import EndpointSpec, Placement, Resources, RestartPolicy, ServiceMode, TaskTemplate

from ..names import LABEL_PREFIX_KEY, label
from ..policy.image_pins import from_a_registry

LABEL_PREPULL = label("prepull")  # the environment slug a pre-pull service is for


def prepull_service_name(prefix: str, slug: str) -> str:
    return f"{prefix}-prepull-{slug}"


def prepull_service_spec(prefix: str, slug: str, image: str, constraints: Sequence[str] = ()) -> dict:
    """docker SDK create_service kwargs for one environment's pre-pull service (on the nodes `constraints` allow:
    those that may run the environment)."""
    return dict(
        task_template=TaskTemplate(
            DockerContainerSpec(image, ["true"], user="1000:100"),  # the pull is the point; the run is a no-op
            restart_policy=RestartPolicy("none"), resources=Resources(),
            placement=Placement(constraints=list(constraints)) if constraints else None),
        name=prepull_service_name(prefix, slug), mode=ServiceMode("global"),
        endpoint_spec=EndpointSpec(mode="dnsrr"), labels={LABEL_PREFIX_KEY: prefix, LABEL_PREPULL: slug})


def ensure_prepull_services(client: docker.APIClient, prefix: str, images: Mapping[str, str],
                            constraints: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """One pre-pull service per environment (slug -> image; slug -> placement constraints): created, updated
    when its image or nodes changed, and removed for an environment no longer there. Returns what it did, for
    the caller's progress."""
    done = []
    images = {slug: image for slug, image in images.items() if from_a_registry(image)}
    existing = {s["Spec"]["Labels"][LABEL_PREPULL]: s for s in client.services(
        filters={"label": [f"{LABEL_PREFIX_KEY}={prefix}", LABEL_PREPULL]})}
    for slug, image in images.items():
        spec = prepull_service_spec(prefix, slug, image, (constraints or {}).get(slug, ()))
        found = existing.pop(slug, None)
        if found is None:
            client.create_service(**spec)
            done.append(f"pre-pulling {image} on every node ({slug})")
        elif _changed(found["Spec"]["TaskTemplate"], image, spec["task_template"]):
            client.update_service(found["ID"], found["Version"]["Index"], **spec)
            done.append(f"pre-pulling the new {image} on every node ({slug})")
    for slug, stale in existing.items():
        client.remove_service(stale["ID"])
        done.append(f"stopped pre-pulling for {slug} (no longer an environment)")
    return done


def _changed(deployed: dict, image: str, wanted: TaskTemplate) -> bool:
    wanted_constraints = (wanted.get("Placement") or {}).get("Constraints") or []
    return (deployed["ContainerSpec"]["Image"] != image
            or ((deployed.get("Placement") or {}).get("Constraints") or []) != wanted_constraints)
