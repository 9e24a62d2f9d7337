"""Scheduled notebooks: the hub's REST API at /hub/api/mlops/jobs (docs/scheduling.md).

The hub is the only writer of DAG files and the only holder of Airflow credentials. A user (their
browser, their server's token, a notebook) acts on their own jobs; an admin on all. Each job is a
spec file the hub writes and one DAG in Airflow; each run is a Swarm service Airflow starts.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from airflow_client.client.exceptions import ApiException
from jupyterhub.apihandlers import APIHandler
from tornado import web

from ..airflow.job_spec import DAG_ID, JobSpec, list_jobs, read_owner, remove_job, spec_path, write_job
from ..names import JOBS_SCOPE, job_output_name
from ..policy.errors import SpawnOptionError
from ..policy.jobs import check_parameters, job_id, output_folder, validate_job
from .airflow_client import AirflowClient, AirflowUnavailable
from .json_body import finish_json, json_object_body
from .user_scope import scoped_user

MAX_BODY = 256 * 1024
TOKEN_NOTE = "mlops-hub notebook job {}"  # one hub token per job; the note finds it again
# a job reaches MLflow and pushes model metrics (the Pushgateway, through the edge) as its user, nothing else
JOB_TOKEN_SCOPES = ["access:services!service=mlflow", "access:services!service=prometheus"]
DAG_APPEAR_TIMEOUT = 90  # the dag-processor looks every 5 s; a loaded machine takes longer


@dataclass(frozen=True)
class JobsSettings:
    dags_dir: Path
    airflow: AirflowClient
    ui_url: str

    @classmethod
    def from_environ(cls) -> JobsSettings:
        return cls(Path(os.environ.get("MLOPS_AIRFLOW_DAGS_DIR", "/srv/airflow-dags")),
                   AirflowClient(os.environ.get("MLOPS_AIRFLOW_URL", "http://airflow-api-server:8080/airflow"),
                                 os.environ.get("MLOPS_AIRFLOW_PASSWORD_FILE", "/run/secrets/airflow_hub_password")),
                   os.environ.get("MLOPS_AIRFLOW_UI_URL", "/airflow/"))


_settings: JobsSettings | None = None


def jobs_settings() -> JobsSettings:
    global _settings
    if _settings is None:
        _settings = JobsSettings.from_environ()
    return _settings


def job_view(spec: JobSpec, dag: dict | None, ui_url: str) -> dict:
    """What the API shows of a job: the request as the user made it, and Airflow's state of it."""
    c = spec.container
    return {
        "id": spec.dag_id, "owner": spec.owner, "notebook": spec.notebook, "schedule": spec.schedule,
        "start_date": spec.start_date, "retries": spec.retries, "parameters": spec.parameters,
        "environment": spec.environment, "role": spec.role, "cpu_limit": c.cpu_limit, "mem_limit": c.mem_limit,
        "output_folder": output_folder(spec.notebook),
        "paused": dag.get("is_paused") if dag else None,
        "next_run": _iso(dag.get("next_dagrun_run_after")) if dag else None,
        "in_airflow": dag is not None,
        "airflow_url": f"{ui_url.rstrip('/')}/dags/{spec.dag_id}",
    }


def run_view(spec: JobSpec, run: dict) -> dict:
    run_id = run.get("dag_run_id") or run.get("run_id") or ""
    return {
        "run_id": run_id, "state": run.get("state"), "run_type": run.get("run_type"),
        "queued_at": _iso(run.get("queued_at")), "start_date": _iso(run.get("start_date")),
        "end_date": _iso(run.get("end_date")), "conf": run.get("conf") or {},
        "output_notebook": str(PurePosixPath(output_folder(spec.notebook))
                               / job_output_name(PurePosixPath(spec.notebook).stem, run_id)),
    }


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class JobsHandler(APIHandler):
    """Shared checks: who is asking, which job, and Airflow's errors as messages."""

    @property
    def jobs(self) -> JobsSettings:
        return jobs_settings()

    def _user(self):
        return scoped_user(self, JOBS_SCOPE, "Notebook jobs")

    def _is_admin(self) -> bool:
        return bool(getattr(self.current_user, "admin", False))

    def _owned_spec(self, dag_id: str) -> JobSpec:
        """The job, when it exists and the caller owns it (or is an admin)."""
        user = self._user()
        if not DAG_ID.fullmatch(dag_id):
            raise web.HTTPError(404, f"No notebook job {dag_id[:80]!r}.")
        owner = read_owner(self.jobs.dags_dir, dag_id)
        if owner is None:
            raise web.HTTPError(404, f"No notebook job {dag_id!r}.")
        if owner != user.name and not self._is_admin():
            raise web.HTTPError(403, f"The job {dag_id!r} belongs to another user.")
        return JobSpec.from_json(spec_path(self.jobs.dags_dir, dag_id).read_text(encoding="utf8"))

    def _body(self) -> dict:
        return json_object_body(self.request.body, MAX_BODY, "a JSON object", empty=b"{}")

    def write_json(self, data, status: int = 200) -> None:
        finish_json(self, data, status)

    async def _airflow(self, coroutine):
        try:
            return await coroutine
        except AirflowUnavailable as e:
            self.log.error("mlops jobs: %s", e)
            raise web.HTTPError(503, "The scheduler (Airflow) is not available right now; try again shortly.") from None
        except ApiException as e:
            self.log.error("mlops jobs: Airflow answered %s: %s", e.status, (e.body or "")[:500])
            raise web.HTTPError(502, f"Airflow refused the request ({e.status}).") from None

    def _owner(self, spec: JobSpec):
        """The job's owner as a hub user (an admin may act on another user's job)."""
        if spec.owner == self.current_user.name:
            return self.current_user
        owner = self.find_user(spec.owner)
        if owner is None:
            raise web.HTTPError(409, f"The job {spec.dag_id!r} belongs to {spec.owner!r}, who is no longer a user.")
        return owner

    def _spawner(self, user):
        spawner = user.spawners[""]
        if not hasattr(spawner, "job_container"):
            raise web.HTTPError(501, "Scheduling notebooks needs the hub's MLOpsSwarmSpawner.")
        return spawner

    def _revoke_tokens(self, user, dag_id: str, keep: str | None = None, only: str | None = None) -> None:
        """Revoke the job's tokens: all of them, all but `keep`, or only `only`."""
        note = TOKEN_NOTE.format(dag_id)
        for token in list(user.orm_user.api_tokens):
            if token.note == note and token.api_id != keep and only in (None, token.api_id):
                self.db.delete(token)
        self.db.commit()


class JobListHandler(JobsHandler):
    async def get(self):
        user = self._user()
        everyone = self._is_admin() and self.get_argument("all", "0") in ("1", "true")
        specs = [s for s in list_jobs(self.jobs.dags_dir) if everyone or s.owner == user.name]
        dags = await asyncio.gather(*(self._airflow(self.jobs.airflow.dag(s.dag_id)) for s in specs))
        self.write_json({"jobs": [job_view(s, d, self.jobs.ui_url) for s, d in zip(specs, dags, strict=True)]})

    async def post(self):
        """Schedule a notebook, or reschedule it: one DAG and one spec per (user, notebook)."""
        user = self._user()
        try:
            schedule, size = validate_job(self._body(), datetime.now(timezone.utc))
        except SpawnOptionError as e:
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}") from None
        spawner = self._spawner(user)
        request = spawner.job_request(size)
        dag_id = job_id(user.name, schedule.notebook)
        existed = spec_path(self.jobs.dags_dir, dag_id).exists()
        token = user.new_api_token(note=TOKEN_NOTE.format(dag_id), scopes=JOB_TOKEN_SCOPES, expires_in=None)
        new_token_id = _token_id(user, dag_id)
        container, written = None, False
        try:
            container = await spawner.job_container(request, schedule, dag_id, token)
            spec = JobSpec(dag_id=dag_id, owner=user.name, notebook=schedule.notebook,
                           home=container.env.get("HOME", ""), schedule=schedule.schedule,
                           start_date=schedule.start_date.isoformat(), retries=schedule.retries,
                           parameters=schedule.parameters, environment=request.environment.slug,
                           role=request.role, container=container)
            JobSpec.from_json(spec.to_json())  # what the factory will read must read back
            write_job(self.jobs.dags_dir, spec)
            written = True
            dag = await self._wait_for_dag(spec, existed)
            if dag.get("is_paused") != schedule.paused:
                dag = await self._airflow(self.jobs.airflow.set_paused(dag_id, schedule.paused))
        except BaseException:
            if not existed:  # a first schedule that failed leaves nothing behind
                remove_job(self.jobs.dags_dir, dag_id)
                await spawner.remove_job_objects(dag_id)
                self._revoke_tokens(user, dag_id)
            elif not written:  # the job stays as it was: only the token and secret made for the new spec go
                self._revoke_tokens(user, dag_id, only=new_token_id)
                if container is not None:
                    await spawner.remove_job_objects(dag_id, only=container)
            else:  # the new spec (and its token) is on disk: the old token and secret are no longer used
                await self._retire_old_credentials(user, spawner, dag_id, new_token_id, container)
            raise
        await self._retire_old_credentials(user, spawner, dag_id, new_token_id, container)
        self.log.info("mlops jobs: %s %s %s (%s)", user.name, "rescheduled" if existed else "scheduled",
                      schedule.notebook, dag_id)
        self.write_json({"job": job_view(spec, dag, self.jobs.ui_url)}, 200 if existed else 201)

    async def _retire_old_credentials(self, user, spawner, dag_id: str, token_id: str | None, container) -> None:
        self._revoke_tokens(user, dag_id, keep=token_id)
        await spawner.remove_job_objects(dag_id, keep=container)

    async def _wait_for_dag(self, spec: JobSpec, existed: bool) -> dict:
        """Until Airflow has parsed the new spec; its import error, if any, is the answer."""
        airflow = self.jobs.airflow
        before = await self._airflow(airflow.dag(spec.dag_id)) if existed else None
        if before and before.get("file_token"):
            await self._airflow(airflow.reparse(before["file_token"]))
        deadline = time.monotonic() + DAG_APPEAR_TIMEOUT
        written = time.time()
        while True:
            errors = await self._airflow(airflow.import_errors(f"{spec.dag_id}.py"))
            if errors:
                raise web.HTTPError(500, f"Airflow could not load the job: {errors[0].get('stack_trace', '')[-400:]}")
            dag = await self._airflow(airflow.dag(spec.dag_id))
            parsed = dag and dag.get("last_parsed_time")
            if dag and (not existed or (parsed and parsed.timestamp() >= written - 1)):
                return dag
            if time.monotonic() > deadline:
                raise web.HTTPError(504, f"Airflow did not pick the job up within {DAG_APPEAR_TIMEOUT} s;"
                                         " it will appear when Airflow catches up.")
            await asyncio.sleep(1)


def _token_id(user, dag_id: str) -> str | None:
    note = TOKEN_NOTE.format(dag_id)
    tokens = sorted((t for t in user.orm_user.api_tokens if t.note == note), key=lambda t: t.created)
    return tokens[-1].api_id if tokens else None


class JobHandler(JobsHandler):
    async def get(self, dag_id):
        spec = self._owned_spec(dag_id)
        dag = await self._airflow(self.jobs.airflow.dag(dag_id))
        errors = await self._airflow(self.jobs.airflow.import_errors(f"{dag_id}.py"))
        view = job_view(spec, dag, self.jobs.ui_url)
        view["import_errors"] = [e.get("stack_trace", "") for e in errors]
        self.write_json({"job": view})

    async def patch(self, dag_id):
        """Pause or resume: {"paused": true|false}."""
        spec = self._owned_spec(dag_id)
        body = self._body()
        if set(body) != {"paused"} or not isinstance(body["paused"], bool):
            raise web.HTTPError(400, "paused: expected {\"paused\": true} or {\"paused\": false}")
        dag = await self._airflow(self.jobs.airflow.set_paused(dag_id, body["paused"]))
        self.write_json({"job": job_view(spec, dag, self.jobs.ui_url)})

    async def delete(self, dag_id):
        spec = self._owned_spec(dag_id)
        owner = self._owner(spec)
        remove_job(self.jobs.dags_dir, dag_id)
        await self._airflow(self.jobs.airflow.delete_dag(dag_id))
        spawner = self._spawner(owner)
        await spawner.remove_job_objects(dag_id)
        self._revoke_tokens(owner, dag_id)
        self.log.info("mlops jobs: %s deleted %s", self.current_user.name, dag_id)
        self.set_status(204)
        self.finish()


class JobRunsHandler(JobsHandler):
    async def get(self, dag_id):
        spec = self._owned_spec(dag_id)
        limit = _int_argument(self, "limit", 25, 1, 100)
        offset = _int_argument(self, "offset", 0, 0, 1_000_000)
        found = await self._airflow(self.jobs.airflow.runs(dag_id, limit, offset))
        self.write_json({"runs": [run_view(spec, r) for r in found["runs"]], "total": found["total"]})

    async def post(self, dag_id):
        """Run now, with {"parameters": {...}} over the schedule's; refused when the team pool is full."""
        spec = self._owned_spec(dag_id)
        body = self._body()
        unknown = sorted(k for k in body if k != "parameters")
        if unknown:
            raise web.HTTPError(400, f"Invalid {unknown[0][:40]}: unknown field; allowed: parameters")
        try:
            conf = check_parameters(body.get("parameters"))
        except SpawnOptionError as e:
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}") from None
        owner = self._owner(spec)
        spawner = self._spawner(owner)
        request = spawner.job_request({"environment": spec.environment, "cpu_limit": spec.container.cpu_limit,
                                       "mem_limit": spec.container.mem_limit})
        await spawner.admit_job(request, dag_id)
        run = await self._airflow(self.jobs.airflow.trigger(dag_id, conf))
        self.log.info("mlops jobs: %s triggered %s (%s)", self.current_user.name, dag_id, run.get("dag_run_id"))
        self.write_json({"run": run_view(spec, run)}, 201)


class JobRunHandler(JobsHandler):
    async def get(self, dag_id, run_id):
        spec = self._owned_spec(dag_id)
        run = await self._airflow(self.jobs.airflow.run(dag_id, run_id))
        if run is None:
            raise web.HTTPError(404, f"No run {run_id!r} of job {dag_id!r}.")
        tasks = await self._airflow(self.jobs.airflow.task_instances(dag_id, run_id))
        view = run_view(spec, run)
        view["tasks"] = [{"task_id": t.get("task_id"), "state": t.get("state"), "try_number": t.get("try_number"),
                          "start_date": _iso(t.get("start_date")), "end_date": _iso(t.get("end_date"))}
                         for t in tasks]
        self.write_json({"run": view})


class JobLogHandler(JobsHandler):
    async def get(self, dag_id, run_id):
        """The task log: `?token=` continues where the last answer's continuation_token left off."""
        self._owned_spec(dag_id)
        tasks = await self._airflow(self.jobs.airflow.task_instances(dag_id, run_id))
        token = self.get_argument("token", None) or None
        if not tasks:  # a run just created has no task yet: an empty log, so followers simply ask again
            run = await self._airflow(self.jobs.airflow.run(dag_id, run_id))
            if run is None:
                raise web.HTTPError(404, f"No run {run_id!r} of job {dag_id!r}.")
            self.write_json({"lines": [], "continuation_token": token, "state": run.get("state"), "try_number": 0})
            return
        task = tasks[0]
        if not task.get("try_number"):
            # queued, not started: no log yet (Airflow would answer 404); the caller asks again
            self.write_json({"lines": [], "continuation_token": token, "state": task.get("state"), "try_number": 0})
            return
        try_number = _int_argument(self, "try", task["try_number"], 1, 100)
        log = await self._airflow(self.jobs.airflow.log(dag_id, run_id, task["task_id"], try_number, token))
        self.write_json({**log, "state": task.get("state"), "try_number": try_number})


def _int_argument(handler, name: str, default: int, low: int, high: int) -> int:
    raw = handler.get_argument(name, None)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise web.HTTPError(400, f"Invalid {name}: expected a whole number from {low} to {high}")
    return int(raw)


JOB = r"([^/]+)"
handlers = [
    (r"/api/mlops/jobs/?", JobListHandler),
    (rf"/api/mlops/jobs/{JOB}/?", JobHandler),
    (rf"/api/mlops/jobs/{JOB}/runs/?", JobRunsHandler),
    (rf"/api/mlops/jobs/{JOB}/runs/{JOB}/?", JobRunHandler),
    (rf"/api/mlops/jobs/{JOB}/runs/{JOB}/log/?", JobLogHandler),
]
