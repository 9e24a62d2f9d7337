"""What a model release asks for and what it deploys: a registered MLflow model version (or alias) served as the
Swarm service `model-<name>`, from an image built on the environment image the model was trained in.

Pure: the request is checked against the releasing user's role limits; the serving image's Dockerfile and the
service's spec are plain data. Docker I/O is in swarm/model_service.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..names import (
    LABEL_KIND,
    LABEL_MODEL,
    LABEL_MODEL_CREATED,
    LABEL_MODEL_RUN,
    LABEL_MODEL_VERSION,
    LABEL_RELEASED_BY,
    LABEL_ROLE,
    MODEL_KIND,
)
from .units import format_cpu, format_memory, parse_cpu, parse_memory

# a service name Docker and DNS take, that the front door routes by (/models/<name>/): lowercase, digits, '-'
MODEL_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SERVICE_PREFIX = "model-"
SERVING_PORT = 8080
MODEL_DIR = "/opt/mlops-model"
MAX_REPLICAS = 8
DEFAULT_CPU = 0.5
DEFAULT_MEM = 512 * 1024**2
MIN_MEM = 256 * 1024**2  # MLflow's scoring server (uvicorn, pandas) with a small model: about 150 MiB measured



class ReleaseError(ValueError):
    """A release request that cannot be served: `field` is the one to fix, the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ModelRef:
    """A registered model's version (`churn/3`) or alias (`churn@champion`)."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"

    @property
    def uri(self) -> str:
        """MLflow's models:/ URI for it."""
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


def parse_model_ref(text: object) -> ModelRef:
    """`name@alias` or `name/version` (a name that can also name a service)."""
    if not isinstance(text, str) or not text.strip():
        raise ReleaseError("model", "expected NAME@ALIAS or NAME/VERSION, e.g. churn@champion or churn/3")
    text = text.strip()
    name, alias, version = text, None, None
    if "@" in text:
        name, _, alias = text.partition("@")
        if not ALIAS_RE.match(alias):
            raise ReleaseError("model", f"alias {alias!r}: letters, digits, '_' and '-' only (1-64)")
    elif "/" in text:
        name, _, version = text.partition("/")
        if not version.isdigit() or int(version) < 1:
            raise ReleaseError("model", f"version {version!r}: a registered version number (1, 2, ...)")
        version = str(int(version))
    else:
        raise ReleaseError("model", f"{text!r} names no version or alias: write {text}@ALIAS or {text}/VERSION")
    check_model_name(name)
    return ModelRef(name, version, alias)


def check_model_name(name: str) -> None:
    if not MODEL_NAME_RE.match(name):
        raise ReleaseError("model", f"{name!r} cannot name a service (model-<name>): lowercase letters, digits and"
                                    " '-' inside, 1-48 characters; register the model under such a name")


def service_name(model: str) -> str:
    return f"{SERVICE_PREFIX}{model}"


@dataclass(frozen=True)
class RoleRoom:
    """What the releasing user's role allows one model service: per replica, and replicas in all."""

    role: str
    max_cpu: float
    max_mem: int
    pool_role: str = ""  # the role whose team pool the service is counted against ("": none)


@dataclass(frozen=True)
class ReleaseRequest:
    ref: ModelRef
    replicas: int
    cpu: float  # per replica: the limit (reservation: policy of the caller)
    mem: int
    pool_role: str = ""

    @property
    def service(self) -> str:
        return service_name(self.ref.name)

    @property
    def total_cpu(self) -> float:
        """What the service holds of its team pool: every replica's limit."""
        return self.cpu * self.replicas

    @property
    def total_mem(self) -> int:
        return self.mem * self.replicas


def parse_release(body: Mapping, room: RoleRoom) -> ReleaseRequest:
    """A release request (the REST body, the CLI's flags, the notebook call's arguments) within the role's room."""
    if not isinstance(body, Mapping):
        raise ReleaseError("body", "expected a JSON object with model, and optionally replicas, cpu, mem")
    unknown = sorted(str(k) for k in body if k not in ("model", "replicas", "cpu", "mem"))
    if unknown:
        raise ReleaseError(unknown[0], "not a release setting; allowed: model, replicas, cpu, mem")
    ref = parse_model_ref(body.get("model"))
    replicas = body.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_REPLICAS:
        raise ReleaseError("replicas", f"a whole number from 1 to {MAX_REPLICAS}, got {replicas!r}")
    cpu = _within("cpu", body.get("cpu"), DEFAULT_CPU, parse_cpu, 0.05, room.max_cpu, format_cpu, room.role)
    mem = _within("mem", body.get("mem"), DEFAULT_MEM, parse_memory, MIN_MEM, room.max_mem, format_memory, room.role)
    return ReleaseRequest(ref, replicas, cpu, mem, room.pool_role)


def _within(field: str, raw, default, parse, low, high, fmt, role: str):
    if raw is None:
        return min(default, high) if high >= low else _room_error(field, low, high, fmt, role)
    try:
        value = parse(raw)
    except (TypeError, ValueError) as e:
        raise ReleaseError(field, str(e)) from None
    if not low <= value <= high:
        return _room_error(field, low, high, fmt, role, raw)
    return value


def _room_error(field, low, high, fmt, role, raw=None):
    got = f", got {raw!r}" if raw is not None else ""
    if high < low:
        raise ReleaseError(field, f"role {role!r} allows at most {fmt(high)} per server, less than a model service"
                                  f" needs ({fmt(low)})")
    raise ReleaseError(field, f"from {fmt(low)} to {fmt(high)} (role {role!r}){got}")


# Swarm drops a stopping replica from its DNS name as it signals it, but the front door keeps an answer for up
# to a second: the replica keeps answering this long after SIGTERM, so no request reaches a closed port
DRAIN_SECONDS = 4
STOP_GRACE_SECONDS = DRAIN_SECONDS + 10  # then the scoring server's own graceful stop


def serving_command() -> str:
    """The serving container's shell: MLflow's scoring server, which on SIGTERM is stopped only after
    DRAIN_SECONDS (requests already routed to this replica are still answered)."""
    serve = f"mlflow models serve -m {MODEL_DIR} --env-manager local -h 0.0.0.0 -p {SERVING_PORT}"
    return (f'{serve} & pid=$!; trap \'sleep {DRAIN_SECONDS}; kill -TERM "$pid"\' TERM INT; '
            'wait "$pid"; status=$?; wait "$pid" 2>/dev/null && exit 0; exit $status')


def serving_dockerfile(base_image: str) -> str:
    """The serving image: the model's files on top of the image it was trained in, served by MLflow's scoring
    server with that image's packages (`--env-manager local`: no environment is built at start)."""
    return (
        f"FROM {base_image}\n"
        f"COPY --chown=1000:100 model {MODEL_DIR}\n"
        "USER 1000:100\n"
        f"EXPOSE {SERVING_PORT}\n"
        f"ENTRYPOINT {json.dumps(['/bin/sh', '-c', serving_command()])}\n"
    )


HEALTH_CHECK = ["CMD", "python3", "-c",
                f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{SERVING_PORT}/ping', timeout=3)"]


def rolled_back(update_state: str) -> bool:
    """Swarm's update state says the new version does not serve: rolled back, or paused before it took over."""
    return update_state.startswith("rollback") or update_state == "paused"


@dataclass(frozen=True)
class ModelService:
    """The spec of `model-<name>`, as plain data (swarm/model_service.py hands it to Docker)."""

    name: str
    image: str
    replicas: int
    cpu: float
    mem: int
    labels: dict[str, str]
    network: str
    # a new version is started beside the old one and must pass its health check within `monitor` seconds;
    # a failure rolls the service back by itself, so a broken version never takes the old one's place
    monitor_seconds: int = 30


def model_service(request: ReleaseRequest, version: str, run_id: str, image: str, user: str, network: str,
                  extra_labels: Mapping[str, str] | None = None, model_created: str = "") -> ModelService:
    labels = {LABEL_MODEL: request.ref.name, LABEL_MODEL_VERSION: version, LABEL_MODEL_RUN: run_id,
              LABEL_RELEASED_BY: user, LABEL_KIND: MODEL_KIND, **(extra_labels or {})}
    if model_created:  # which registered model of that name this is (same_registered_model)
        labels[LABEL_MODEL_CREATED] = model_created
    if request.pool_role:  # read back by the team pools (swarm/labels.py running_models)
        labels[LABEL_ROLE] = request.pool_role
    return ModelService(request.service, image, request.replicas, request.cpu, request.mem, labels, network)


def same_registered_model(running: Mapping[str, str], name: str, model_created: str) -> bool | None:
    """Whether the running `model-<name>` (its labels) serves the registered model released now, created in MLflow
    at `model_created`: True or False, or None when the service does not say (released before that label was
    written: the caller asks MLflow whether its run is one of this model's versions)."""
    if running.get(LABEL_KIND) != MODEL_KIND or running.get(LABEL_MODEL) != name:
        return False  # not a model service of this name at all: never taken over
    served = running.get(LABEL_MODEL_CREATED, "")
    return None if not served else served == model_created


def not_the_same_model(service: str, running: Mapping[str, str]) -> ReleaseError:
    """The refusal when `service` runs something other than this registered model: nothing is deployed, since
    its callers would otherwise silently get another user's model."""
    if running.get(LABEL_KIND) != MODEL_KIND:
        return ReleaseError("model", f"the service {service} exists and is not a served model; an admin must remove"
                                     " it before a model of this name can be released")
    who = running.get(LABEL_RELEASED_BY) or "unknown"
    return ReleaseError("model", f"{service} serves a version of an earlier registered model of that name (released"
                                 f" by {who}), deleted in MLflow since; an admin must remove that service"
                                 f" (docker service rm {service}) before this model can be released")
