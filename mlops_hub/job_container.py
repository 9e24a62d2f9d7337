"""What a scheduled notebook's Swarm service runs: the runner command, its arguments and environment.

Glue between the spawner (which gathers a server's image, limits, volumes and index files) and the
job spec Airflow reads (mlops_hub.airflow.job_spec). No Docker calls here.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from .names import ENV_ENVIRONMENT, ENV_IMAGE_DIGEST, ENV_JOB_ID, ENV_ROLE
from .policy.jobs import JobSchedule, output_folder
from .policy.request import SpawnRequest

# Airflow renders these two fields and nothing else (NotebookJobOperator.template_fields)
RUNNER_COMMAND = ["python", "-m", "mlops_hub.lab.run_notebook",
                  "--run-id", "{{ run_id }}", "--conf", "{{ dag_run.conf | tojson }}"]
# a server's JupyterHub variables (its token, OAuth client, URLs) are not the job's: it gets its own token
_SERVER_ONLY_PREFIXES = ("JUPYTERHUB_", "JPY_")


def notebook_file(home: str, notebook: str) -> str:
    return str(PurePosixPath(home) / notebook)


def runner_args(home: str, schedule: JobSchedule) -> list[str]:
    """The runner's arguments: user data, which Airflow passes on without rendering."""
    return ["--notebook", notebook_file(home, schedule.notebook),
            "--output-dir", str(PurePosixPath(home) / output_folder(schedule.notebook)),
            "--parameters", json.dumps(schedule.parameters, sort_keys=True)]


def job_environment(server_env: dict[str, str], request: SpawnRequest, image_id: str, home: str,
                    schedule: JobSchedule, dag_id: str, user: str) -> dict[str, str]:
    """A server's environment minus what belongs to a running server, plus the job's facts.

    JPY_SESSION_NAME is the notebook's path, as jupyter-server sets it for a kernel: MLflow runs the
    job logs are tagged with the notebook, like runs started by hand.
    """
    env = {k: str(v) for k, v in server_env.items() if not k.startswith(_SERVER_ONLY_PREFIXES) and v is not None}
    env.update({
        ENV_ENVIRONMENT: request.environment.slug,
        ENV_ROLE: request.role,
        ENV_IMAGE_DIGEST: image_id,
        ENV_JOB_ID: dag_id,
        "JUPYTERHUB_USER": user,
        "JPY_SESSION_NAME": notebook_file(home, schedule.notebook),
        "CPU_LIMIT": f"{request.cpu_limit:g}",
        "MEM_LIMIT": str(request.mem_limit),
        "HOME": home,
    })
    return env
