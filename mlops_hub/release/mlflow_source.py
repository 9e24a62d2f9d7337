"""A release reads the model from MLflow as the releasing user, and records the release on its version.

The hub reaches MLflow on the platform's private network, where MLflow trusts the edge's headers (docs/mlflow-auth.md):
the hub sends them itself, naming the user whose request it serves, so MLflow's permissions are that user's. MLflow's
client asks the request auth provider `mlops-hub-acting-user` (MLFLOW_TRACKING_AUTH, an entry point) for them on every
call; the user is a context variable set around each release (`acting_as`), never process-wide state, so one user's
release never carries another's name. `asyncio.to_thread` copies it into the worker thread. MLflow downloads a
model's files on threads of its own, which a context variable does not reach: the download runs in a child process
of its own, whose whole environment names the one user (ACTING_USER_VARIABLE, set only there).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from requests.auth import AuthBase

from ..names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER, TAG_ENVIRONMENT, TAG_IMAGE_DIGEST
from ..policy.model_release import ModelRef, ReleaseError

ACTING_USER_PROVIDER = "mlops-hub-acting-user"
ACTING_USER_VARIABLE = "MLOPS_RELEASE_ACTING_USER"  # only in the download's child process
DEPLOYED_ALIAS = "deployed"
RELEASE_REQUESTED_TAG = "mlops_hub.release_requested_by"
DEPLOYED_TAGS = ("mlops_hub.deployed_service", "mlops_hub.deployed_image", "mlops_hub.deployed_by",
                 "mlops_hub.deployed_at")

_acting: contextvars.ContextVar[tuple[str, bool] | None] = contextvars.ContextVar("mlops_hub_acting", default=None)


@contextlib.contextmanager
def acting_as(user: str, admin: bool = False) -> Iterator[None]:
    token = _acting.set((user, admin))
    try:
        yield
    finally:
        _acting.reset(token)


class _ActingUserHeaders(AuthBase):
    def __call__(self, request):
        acting = _acting.get()
        if acting is None and os.environ.get(ACTING_USER_VARIABLE):
            acting = (os.environ[ACTING_USER_VARIABLE], False)
        if acting is None:  # a call outside acting_as: anonymous, which MLflow refuses
            return request
        user, admin = acting
        request.headers[HEADER_MLFLOW_USER] = quote(user, safe="")
        request.headers[HEADER_MLFLOW_ADMIN] = "true" if admin else "false"
        return request


class ActingUserAuthProvider:
    """MLflow's `mlflow.request_auth_provider` entry point: get_name() and get_auth() only."""

    def get_name(self) -> str:
        return ACTING_USER_PROVIDER

    def get_auth(self) -> AuthBase:
        return _ActingUserHeaders()


@dataclass(frozen=True)
class SourceVersion:
    """A registered model version and what the release needs of it."""

    name: str
    version: str
    run_id: str
    image_digest: str  # the image ID of the environment the run ran in
    environment: str
    model_created: str = ""  # the registered model's creation time in MLflow (ms): which model of that name


def _missing(e: Exception) -> bool:
    return getattr(e, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def resolve(client, ref: ModelRef) -> SourceVersion:
    """The version `ref` names, with its run's environment image; ReleaseError naming what is missing."""
    from mlflow.exceptions import MlflowException

    try:
        version = (client.get_model_version_by_alias(ref.name, ref.alias) if ref.alias
                   else client.get_model_version(ref.name, ref.version))
    except MlflowException as e:
        if e.error_code == "PERMISSION_DENIED":  # MLflow's auth app also says so of a model that does not exist
            raise ReleaseError("model", f"{ref}: no registered model of that name that you may read in MLflow"
                               ) from None
        if _missing(e):
            raise ReleaseError("model", f"{ref}: no such registered model version or alias in MLflow") from None
        raise
    if not version.run_id:
        raise ReleaseError("model", f"{ref} (version {version.version}) has no run: the release builds on the"
                                    " environment image of the run that logged it")
    tags = client.get_run(version.run_id).data.tags
    digest = tags.get(TAG_IMAGE_DIGEST, "")
    if not digest:
        raise ReleaseError("model", f"{ref} (version {version.version}): its run {version.run_id} has no environment"
                                    f" image ({TAG_IMAGE_DIGEST}); log the model from a server or job of the platform")
    created = client.get_registered_model(ref.name).creation_timestamp
    return SourceVersion(ref.name, str(version.version), version.run_id, digest, tags.get(TAG_ENVIRONMENT, ""),
                         str(created or ""))


def run_is_a_version_of(client, name: str, run_id: str) -> bool:
    """Whether some version of the registered model `name` was logged by the run `run_id` (both are names the
    platform checked: a model name is [a-z0-9-], a run ID hex)."""
    if not run_id or not re.fullmatch(r"[0-9a-f]+", run_id):
        return False
    return bool(client.search_model_versions(f"name='{name}' and run_id='{run_id}'"))


def download(source: SourceVersion, dest: Path, tracking_uri: str, user: str) -> Path:
    """The version's MLflow model directory (MLmodel and its files), under `dest`, read as `user`."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_TRACKING_AUTH": ACTING_USER_PROVIDER,
           ACTING_USER_VARIABLE: user}
    done = subprocess.run([sys.executable, "-m", "mlops_hub.release.fetch_model",
                           f"models:/{source.name}/{source.version}", str(dest)],
                          env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"downloading {source.name}/{source.version} from MLflow failed: {last}")
    found = Path(done.stdout.strip().splitlines()[-1])
    if not (found / "MLmodel").is_file():
        raise ReleaseError("model", f"{source.name}/{source.version}: its artifacts hold no MLmodel file (not an"
                                    " MLflow model)")
    return found


def claim(client, source: SourceVersion, user: str) -> None:
    """Before anything is built: the user may change this model in MLflow (a release records itself on it), shown by
    a first tag saying who asked; ReleaseError when MLflow refuses."""
    from mlflow.exceptions import MlflowException

    try:
        client.set_model_version_tag(source.name, source.version, RELEASE_REQUESTED_TAG, user)
    except MlflowException as e:
        if e.error_code == "PERMISSION_DENIED":
            raise ReleaseError("model", f"{source.name}: you may not release it (MLflow gives you no edit"
                                        " permission on this model; its owner can grant it)") from None
        raise


def record_release(client, source: SourceVersion, service: str, image: str, user: str,
                   now: dt.datetime | None = None) -> None:
    """Tags on the version say where it is served and from which image; the alias `deployed` points at it."""
    when = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    for key, value in zip(DEPLOYED_TAGS, (service, image, user, when), strict=True):
        client.set_model_version_tag(source.name, source.version, key, value)
    client.set_registered_model_alias(source.name, DEPLOYED_ALIAS, source.version)
