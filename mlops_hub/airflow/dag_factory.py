"""The one module that turns job specs into DAGs: a notebook run as a Swarm service.

Runs in Airflow's dag-processor and scheduler (which has the Docker socket). Trusted code only:
the spec is data, and nothing of it is rendered as a template or executed here.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.docker.operators.docker_swarm import DockerSwarmOperator
from airflow.sdk import DAG
from docker.types import Placement, Resources

from .job_spec import JobSpec, SpecError
from .outcomes import outcome_callback

TASK_ID = "run_notebook"


class _LabellingClient:
    """The Docker client with our labels added to every service it creates (team pools count them)."""

    def __init__(self, client, labels: dict[str, str]) -> None:
        self._client = client
        self._labels = labels

    def create_service(self, *args, labels=None, **kwargs):
        return self._client.create_service(*args, labels={**(labels or {}), **self._labels}, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


class NotebookJobOperator(DockerSwarmOperator):
    """DockerSwarmOperator that labels its service like a user server and renders only `command`.

    `command` is the fixed runner line with {{ run_id }} and the run's conf; user data (notebook path,
    parameters, environment variables, mounts) is never a template, so it cannot read Airflow's
    connections or variables through Jinja.
    """

    template_fields = ("command",)
    template_ext = ()

    def __init__(self, *, service_labels: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.service_labels = service_labels

    @property
    def cli(self):
        return _LabellingClient(self.hook.api_client, self.service_labels)


def _operator(spec: JobSpec) -> NotebookJobOperator:
    c = spec.container
    return NotebookJobOperator(
        task_id=TASK_ID,
        image=c.image,
        command=c.command,
        args=c.args,
        environment=dict(c.env),
        user=c.user,
        # the Docker API's own form, as the hub read it from docker-py: passed through unchanged
        mounts=[dict(m) for m in c.mounts],
        configs=[dict(r) for r in c.configs],
        secrets=[dict(r) for r in c.secrets],
        networks=[c.network],
        placement=Placement(constraints=c.constraints) if c.constraints else None,
        container_resources=Resources(cpu_limit=int(c.cpu_limit * 1e9), mem_limit=c.mem_limit,
                                      cpu_reservation=int(c.cpu_reservation * 1e9),
                                      mem_reservation=c.mem_reservation),
        service_labels=c.labels,
        service_prefix=c.service_prefix,
        docker_url="unix://var/run/docker.sock",
        enable_logging=True,  # the notebook's output in the task log, followed while it runs
        auto_remove="force",  # a finished run leaves no service behind, failed or not
        mount_tmp_dir=False,
        # each run's outcome to Prometheus (through the Pushgateway), from here, not from the notebook
        on_success_callback=outcome_callback(spec, True),
        on_failure_callback=outcome_callback(spec, False),
    )


def build_dag(spec: JobSpec) -> DAG:
    with DAG(
        dag_id=spec.dag_id,
        schedule=spec.schedule,
        start_date=datetime.fromisoformat(spec.start_date),
        catchup=False,
        max_active_runs=1,  # one run at a time: a second would double the pool charge
        default_args={"owner": spec.owner, "retries": spec.retries},
        tags=["mlops-hub", "notebook", f"environment:{spec.environment}"],
        description=f"{spec.notebook} of {spec.owner}",
        render_template_as_native_obj=False,
    ) as dag:
        _operator(spec)
    return dag


def dag_from_spec_file(stub_path: str) -> DAG:
    """Called by each job's stub with its own path: the DAG of the .json beside it."""
    path = Path(stub_path).with_suffix(".json")
    try:
        spec = JobSpec.from_json(path.read_text(encoding="utf8"))
    except OSError as e:
        raise SpecError(f"{path.name}: cannot read the job spec: {e.strerror}") from None
    if path.stem != spec.dag_id:
        raise SpecError(f"{path.name}: dag_id {spec.dag_id!r} does not match the file name")
    return build_dag(spec)
