"""One release, start to end: a model version from MLflow (as the releasing user) to the answering service
`model-<name>`, or a clear refusal with nothing deployed.

1. the request is checked against the user's role (policy/model_release.py): a bad one changes nothing;
2. MLflow: the version or alias, its run's environment image, and whether the user may change the model; a running
   `model-<name>` is only updated to a version of the same registered model (not one deleted and registered again);
3. the model's files, a serving image on that environment image, pushed to the platform's registry (by digest);
4. the service is created or updated; Swarm rolls a version back by itself when it fails its health check;
5. a version that answers is recorded on MLflow's model version (tags, alias `deployed`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from ..names import IMAGE_REPO, LABEL_MANAGED, LABEL_MODEL_RUN, LABEL_PREFIX_KEY
from ..policy.image_pins import pinned_reference
from ..policy.model_release import (
    ReleaseError,
    RoleRoom,
    model_service,
    not_the_same_model,
    parse_release,
    rolled_back,
    same_registered_model,
)
from ..swarm.image_push import push as push_image
from ..swarm.model_service import build_serving_image, deploy_model_service, running_service_labels, wait_rollout
from .mlflow_source import SourceVersion, acting_as, claim, download, record_release, resolve, run_is_a_version_of


@dataclass(frozen=True)
class Target:
    """Where releases go: the platform's registry (None: this node only) and the network the front door shares."""

    registry: str | None
    network: str
    tracking_uri: str  # MLflow, as the hub reaches it
    prefix: str = ""  # the hub's: `mlops-hub down` removes its model services with its user servers

    @classmethod
    def from_environ(cls, prefix: str) -> Target:
        """The hub's settings (swarm-stack.yml): the stack's registry, its models network, MLflow inside."""
        return cls(os.environ.get("MLOPS_RELEASE_REGISTRY") or None,
                   os.environ.get("MLOPS_RELEASE_NETWORK", "mlops-hub-models"),
                   os.environ.get("MLOPS_MLFLOW_INTERNAL_URL", "http://mlflow:5000/mlflow"), prefix)


@dataclass(frozen=True)
class Released:
    service: str
    version: str
    image: str  # what the service runs now
    state: str  # created, completed, rollback_completed, ...
    message: str

    @property
    def rolled_back(self) -> bool:
        return rolled_back(self.state)


def release(client: docker.APIClient, mlflow_client, target: Target, user: str, room: RoleRoom, body: dict,
            say: Callable[[str], None], push: Callable[[str, str, str], str] | None = None) -> Released:
    """Release `body` ({model, replicas, cpu, mem}) for `user`; ReleaseError (nothing changed) for a bad request.
    `push(image, repository, tag)` -> digest puts the image in the registry (deploy/registry.py's)."""
    request = parse_release(body, room)
    with acting_as(user):
        source = resolve(mlflow_client, request.ref)
        try:
            client.inspect_image(source.image_digest)
        except docker.errors.ImageNotFound:
            raise ReleaseError("model", f"{request.ref}: the environment image of its run ({source.image_digest[:19]})"
                                        " is not on the hub's node; rebuild that environment or log the model"
                                        " again from the current one") from None
        _refuse_another_model(client, mlflow_client, request.service, source)
        claim(mlflow_client, source, user)
    say(f"releasing {source.name} version {source.version} (run {source.run_id}, environment"
        f" {source.environment or 'unknown'})")
    repository, tag = f"{IMAGE_REPO}/{request.service}", f"v{source.version}"
    with tempfile.TemporaryDirectory(prefix="mlops-release-") as work:
        model_dir = download(source, Path(work), target.tracking_uri, user)
        image = build_serving_image(client, model_dir, source.image_digest, f"{repository}:{tag}", say)
    if target.registry and push is not None:
        remote = f"{target.registry}/{request.service}"
        image = pinned_reference(remote, tag, push(image, remote, tag))
    owned = {LABEL_PREFIX_KEY: target.prefix, LABEL_MANAGED: "true"} if target.prefix else {}
    spec = model_service(request, source.version, source.run_id, image, user, target.network, owned,
                         source.model_created)
    deployed = deploy_model_service(client, spec)
    say(f"{spec.name}: {deployed.how}, waiting for the new version to answer")
    rollout = wait_rollout(client, spec, deployed, say)
    outcome = Released(spec.name, source.version, rollout.image, rollout.state, rollout.message)
    if not outcome.rolled_back:
        with acting_as(user):
            record_release(mlflow_client, source, spec.name, image, user)
    return outcome


def _refuse_another_model(client: docker.APIClient, mlflow_client, service: str, source: SourceVersion) -> None:
    """A running `model-<name>` is only ever updated to a version of the registered model it serves: a model
    deleted in MLflow and registered again under its name (by anyone) must not take over its callers."""
    running = running_service_labels(client, service)
    if running is None:
        return
    same = same_registered_model(running, source.name, source.model_created)
    if same is None:
        same = run_is_a_version_of(mlflow_client, source.name, running.get(LABEL_MODEL_RUN, ""))
    if not same:
        raise not_the_same_model(service, running)


def release_from_hub(target: Target, user: str, room: RoleRoom, body: dict, say: Callable[[str], None]) -> Released:
    """The hub's release: its Docker daemon (the manager's) builds, pushes and deploys; MLflow at the hub's
    address, read as `user` (MLFLOW_TRACKING_AUTH=mlops-hub-acting-user in the hub's environment)."""
    from mlflow import MlflowClient

    client = docker.APIClient()
    return release(client, MlflowClient(target.tracking_uri), target, user, room, body, say,
                   lambda image, repository, tag: push_image(client, image, repository, tag))
