"""A scheduled notebook as data: the JSON file the hub writes and the DAG factory reads.

Each job is two files in the DAG folder's `jobs/`: `<dag_id>.json` (this format) and `<dag_id>.py`,
the same fixed stub for every job (STUB), so Airflow parses each job on its own and an error is an
import error of that job's file only. No user text is ever written into a .py file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = 1
JOBS_FOLDER = "jobs"
# Airflow's own rule for DAG ids, tightened: what job_id() produces and nothing else
DAG_ID = re.compile(r"^nb__[A-Za-z0-9_]{1,200}$")
STUB = (
    '"""A notebook job of mlops-hub: its DAG is built from the .json file beside this one."""\n'
    "from mlops_hub.airflow.dag_factory import dag_from_spec_file\n\n"
    "dag = dag_from_spec_file(__file__)  # the text of this file is the same for every job\n"
)


class SpecError(ValueError):
    """A spec file that cannot become a DAG; the message names the key."""


@dataclass(frozen=True)
class JobContainer:
    """The Swarm service a run starts: the same pieces a user server gets (docker API casing)."""

    image: str  # pinned: the image ID the hub resolved at scheduling time
    command: list[str]  # fixed runner command; Airflow renders only {{ run_id }} and the run's conf in it
    args: list[str]  # notebook, folders and parameters: user data, never rendered as a template
    env: dict[str, str]
    user: str | None
    network: str
    cpu_limit: float
    mem_limit: int
    cpu_reservation: float
    mem_reservation: int
    labels: dict[str, str]
    # the Docker API's form (Target/Source/Type, SecretID/SecretName/File): docker-py's Mount,
    # ConfigReference and SecretReference are dicts of exactly this
    mounts: list[dict] = field(default_factory=list)
    configs: list[dict] = field(default_factory=list)
    secrets: list[dict] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    service_prefix: str = "mlops-job"


@dataclass(frozen=True)
class JobSpec:
    dag_id: str
    owner: str  # the hub user: Airflow's auth manager reads it from this file
    notebook: str  # relative to the home
    home: str  # where the home is mounted in the container
    schedule: str | None
    start_date: str  # ISO 8601, UTC
    retries: int
    parameters: dict
    environment: str
    role: str
    container: JobContainer
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise SpecError(f"not JSON: {e}") from None
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise SpecError(f"version: expected {VERSION}")
        try:
            container = JobContainer(**raw.pop("container"))
            spec = cls(container=container, **raw)
        except (KeyError, TypeError) as e:
            raise SpecError(f"missing or unknown key: {e}") from None
        if not DAG_ID.fullmatch(spec.dag_id):
            raise SpecError(f"dag_id: {spec.dag_id[:60]!r} is not a job id")
        return spec


def spec_path(dags_dir: Path, dag_id: str) -> Path:
    if not DAG_ID.fullmatch(dag_id):
        raise SpecError(f"dag_id: {dag_id[:60]!r} is not a job id")
    return Path(dags_dir) / JOBS_FOLDER / f"{dag_id}.json"


def read_owner(dags_dir: Path, dag_id: str) -> str | None:
    """The hub user who owns a job, or None when there is no such job."""
    try:
        return json.loads(spec_path(dags_dir, dag_id).read_text(encoding="utf8")).get("owner")
    except (OSError, ValueError, SpecError, AttributeError):
        return None


def _write_atomically(path: Path, text: str) -> None:
    # the dag-processor may read at any moment: it sees the old file or the new one, never half
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_job(dags_dir: Path, spec: JobSpec) -> Path:
    """Write (or replace) a job's spec and stub; the spec first, so the stub never finds it missing."""
    path = spec_path(dags_dir, spec.dag_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, spec.to_json())
    stub = path.with_suffix(".py")
    if not stub.exists() or stub.read_text(encoding="utf8") != STUB:
        _write_atomically(stub, STUB)
    return path


def remove_job(dags_dir: Path, dag_id: str) -> bool:
    """Remove a job's files (stub first: Airflow then never parses a stub without its spec)."""
    path = spec_path(dags_dir, dag_id)
    existed = path.exists()
    path.with_suffix(".py").unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return existed


def list_jobs(dags_dir: Path) -> list[JobSpec]:
    out = []
    for path in sorted((Path(dags_dir) / JOBS_FOLDER).glob("nb__*.json")):
        try:
            out.append(JobSpec.from_json(path.read_text(encoding="utf8")))
        except (OSError, SpecError):
            continue
    return out
