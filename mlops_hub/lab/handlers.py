"""HTTP API of the extension. Each handler parses input, calls one backend, writes JSON."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Protocol

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .context import run_owner
from .errors import InvalidInput, LabError
from .gitinfo import file_state
from .mlflow_backend import runs_user
from .publisher import NotebookPublisher, SaveRequest


class LabServices(Protocol):
    """What the handlers use of the extension app (MlopsLabApp), named here so they need not import it."""

    owner: str
    gitlab_url: str
    git_push_timeout: float
    runs_backend: Any
    gitlab_backend: Any
    jobs_backend: Any
    token_source: Any
    saved_tokens: Any

    def server_facts(self) -> dict[str, Any]: ...

AUTH_RESOURCE = "mlops_hub"
PREFIX = "/mlops-hub"


class MlopsHandler(APIHandler):
    """Base: JSON errors with an actionable message; the extension app at hand."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, app: LabServices) -> None:  # type: ignore[override]
        self.app = app

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and getattr(exc, "mlops_message", None):
            reply = {"message": exc.mlops_message, "reason": exc.mlops_reason}
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            reply = {"message": exc.log_message, "reason": exc.reason}
        elif isinstance(exc, web.HTTPError):
            reply = {"message": self._reason, "reason": None}
        else:
            reply = {"message": "internal error in the mlops-hub extension; the server log "
                                "has details", "reason": "internal"}
        self.finish(json.dumps(reply))

    async def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking backend call off the event loop, turning LabError into HTTP."""
        try:
            return await asyncio.to_thread(func, *args, **kwargs)
        except LabError as exc:
            raise self.http_error(exc) from None

    @staticmethod
    def http_error(exc: LabError) -> web.HTTPError:
        # tornado uses log_message as a %-format when logging; the reply gets the raw text
        err = web.HTTPError(exc.status, exc.message.replace("%", "%%"))
        err.mlops_message = exc.message  # type: ignore[attr-defined]
        err.mlops_reason = exc.reason  # type: ignore[attr-defined]
        return err

    def acting_user(self, what: str = "GitLab") -> str:
        """Whose identity (GitLab's, the hub's) this request acts with: only the server's owner's.

        Without a hub (no owner configured) the server belongs to whoever holds its token,
        and jupyter-server names token users anonymously per request, so one fixed key is used.
        """
        owner = self.app.owner
        if not owner:
            return "local"
        name = getattr(self.current_user, "username", None)
        if name != owner:
            raise self.http_error(LabError(
                f"only {owner}, who owns this server, can use {what} from it", status=403,
                reason="not-owner"))
        return owner

    def query(self, name: str, *, required: bool = False) -> str | None:
        value = self.get_query_argument(name, None)
        if required and not value:
            raise self.http_error(InvalidInput(f"query parameter '{name}' is required"))
        return value or None

    def whole(self, name: str, default: int) -> int:
        """A whole-number query parameter (the hub checks its range and names it when out of range)."""
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        if not value.isdigit():
            raise self.http_error(InvalidInput(f"query parameter '{name}' must be a whole number"))
        return int(value)

    def flag(self, name: str) -> bool:
        value = (self.get_query_argument(name, None) or "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise self.http_error(InvalidInput(f"query parameter '{name}' must be true or false"))
        return value in ("true", "1")

    def body(self) -> Any:
        try:
            return json.loads(self.request.body or b"{}")
        except ValueError:
            raise self.http_error(InvalidInput("the request body must be JSON")) from None

    def notebook_path(self, api_path: str) -> Path:
        """Absolute path of a Contents-API path, refusing anything outside the server root."""
        root = os.path.normpath(self.contents_manager.root_dir)
        candidate = os.path.normpath(os.path.join(root, api_path.lstrip("/")))
        if os.path.commonpath([root, candidate]) != root:
            raise self.http_error(InvalidInput(
                f"'path' {api_path!r} is outside the server's root folder"))
        return Path(candidate)

    def require(self, backend: Any, what: str, setting: str) -> Any:
        if backend is None:
            raise self.http_error(LabError(
                f"{what} is not configured for this server ({setting} is empty); ask your "
                "platform admin", status=503, reason=f"{what.lower()}-not-configured"))
        return backend


class ContextHandler(MlopsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(self.app.server_facts())


class GitStatusHandler(MlopsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        api_path = self.query("path", required=True)
        assert api_path is not None
        state = await self.call(file_state, self.notebook_path(api_path))
        self.finish({
            "path": api_path, "repository": str(state.root), "git_path": state.relpath,
            "commit": state.commit, "branch": state.branch, "remote_url": state.remote_url,
            "uncommitted_changes": state.uncommitted_changes, "tracked": state.tracked,
        })


class RunsHandler(MlopsHandler):
    """Runs of one notebook, newest first, a page at a time."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        backend = self.require(self.app.runs_backend, "MLflow", "MLFLOW_TRACKING_URI")
        api_path = self.query("path", required=True)
        assert api_path is not None
        raw_max = self.query("max_results") or "50"
        if not raw_max.isdigit():
            raise self.http_error(InvalidInput("'max_results' must be a whole number"))
        ids = self.get_query_arguments("experiment_id") or None
        name = self.query("experiment")
        if name and not ids:
            ids = [(await self.call(backend.experiment, name=name))["experiment_id"]]
        try:
            user = runs_user(self.query("user"), self.flag("all_users"), self.app.owner or run_owner())
        except InvalidInput as exc:
            raise self.http_error(exc) from None
        page = await self.call(
            backend.notebook_runs, str(self.notebook_path(api_path)), experiment_ids=ids,
            user=user, max_results=int(raw_max), page_token=self.query("page_token"),
        )
        self.finish({"path": api_path, "user": user, "runs": page.runs,
                     "next_page_token": page.next_page_token})


class ExperimentHandler(MlopsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        backend = self.require(self.app.runs_backend, "MLflow", "MLFLOW_TRACKING_URI")
        self.finish(await self.call(backend.experiment, name=self.query("name"),
                                    experiment_id=self.query("experiment_id")))


class SaveToGitLabHandler(MlopsHandler):
    """Commit (optionally without outputs) and push a notebook; optionally open an MR."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        gitlab = self.require(self.app.gitlab_backend, "GitLab", "MLOPS_GITLAB_URL")
        user = self.acting_user()
        body = self.body()
        try:
            req = SaveRequest.from_json(body)
            api_path = body.get("path")
            if not isinstance(api_path, str) or not api_path:
                raise InvalidInput("'path' is required: the notebook's path in the file browser")
            publisher = NotebookPublisher(self.app.gitlab_url, gitlab, self.app.token_source,
                                          push_timeout=self.app.git_push_timeout)
            result = await publisher.save(user, self.notebook_path(api_path), req)
        except LabError as exc:
            raise self.http_error(exc) from None
        self.log.info("mlops-hub: %s saved %s to %s@%s", user, api_path, result["project"],
                      result["branch"])
        self.finish(result)


class TokenHandler(MlopsHandler):
    """A GitLab token the user hands to this server; kept in memory, never on disk."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish({"saved": self.app.saved_tokens.has(self.acting_user())})

    @web.authenticated
    @authorized
    async def put(self) -> None:
        body = self.body()
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip() or len(token) > 1024:
            raise self.http_error(InvalidInput(
                "'token' is required: a GitLab personal access token (at most 1024 characters)"))
        self.app.saved_tokens.save(self.acting_user(), token.strip())
        self.set_status(204)
        self.finish()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        self.app.saved_tokens.forget(self.acting_user())
        self.set_status(204)
        self.finish()


class JobsHandler(MlopsHandler):
    """Scheduled notebooks: list yours, or schedule one by its Contents-API `path` (docs/scheduling.md)."""

    def backend(self) -> Any:
        return self.require(self.app.jobs_backend, "Scheduling", "JUPYTERHUB_API_URL")

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.acting_user()
        self.finish({"jobs": await self.call(self.backend().jobs)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.acting_user()
        body = self.body()
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise self.http_error(InvalidInput("'path' is required: the notebook's path in this server"))
        notebook = self.notebook_path(body.pop("path"))
        if not notebook.is_file():
            raise self.http_error(InvalidInput(f"notebook: {notebook.name} does not exist; save it first"))
        relative = notebook.relative_to(os.path.normpath(self.contents_manager.root_dir)).as_posix()
        job = await self.call(self.backend().schedule, relative, **body)
        self.set_status(201)
        self.finish({"job": job})


class JobHandler(JobsHandler):
    """One job: its state, pause/resume ({"paused": bool}), delete; its runs and a run's log."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str, run_id: str | None = None, part: str | None = None) -> None:
        self.acting_user()
        backend = self.backend()
        if run_id is None:
            limit, offset = self.whole("limit", 25), self.whole("offset", 0)  # a bad page asks the hub nothing
            self.finish({"job": await self.call(backend.job, job_id),
                         **(await self.call(backend.runs, job_id, limit, offset))})
        elif part == "log":
            self.finish(await self.call(backend.log, job_id, run_id, self.query("token")))
        else:
            self.finish({"run": await self.call(backend.run, job_id, run_id)})

    @web.authenticated
    @authorized
    async def patch(self, job_id: str) -> None:
        self.acting_user()
        body = self.body()
        paused = body.get("paused") if isinstance(body, dict) else None
        if not isinstance(paused, bool):
            raise self.http_error(InvalidInput("'paused' is required: true or false"))
        self.finish({"job": await self.call(self.backend().set_paused, job_id, paused)})

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        self.acting_user()
        await self.call(self.backend().delete, job_id)
        self.set_status(204)
        self.finish()


class JobRunsHandler(JobsHandler):
    """Run a job now: {"parameters": {...}} over the schedule's."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.acting_user()
        body = self.body()
        parameters = body.get("parameters") if isinstance(body, dict) else None
        self.set_status(201)
        self.finish({"run": await self.call(self.backend().trigger, job_id, parameters)})


class ModelReleasesHandler(MlopsHandler):
    """Serve a model: the hub's release API as this server's owner (docs/models.md). Answers when Swarm has
    judged the rollout: 201, or the hub's 400 / 403 / 409 with its message."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.acting_user("model releases")  # the server's token releases as its owner: only the owner may ask
        from .models_backend import release_model

        released = await self.call(release_model, self.body())
        self.set_status(201)
        self.finish({"release": released})


HANDLERS: list[tuple[str, type[MlopsHandler]]] = [
    (f"{PREFIX}/context", ContextHandler),
    (f"{PREFIX}/git/status", GitStatusHandler),
    (f"{PREFIX}/mlflow/runs", RunsHandler),
    (f"{PREFIX}/mlflow/experiment", ExperimentHandler),
    (f"{PREFIX}/gitlab/save", SaveToGitLabHandler),
    (f"{PREFIX}/gitlab/token", TokenHandler),
    (f"{PREFIX}/jobs", JobsHandler),
    (f"{PREFIX}/jobs/([^/]+)", JobHandler),
    (f"{PREFIX}/jobs/([^/]+)/runs", JobRunsHandler),
    (f"{PREFIX}/jobs/([^/]+)/runs/([^/]+)", JobHandler),
    (f"{PREFIX}/jobs/([^/]+)/runs/([^/]+)/(log)", JobHandler),
    (f"{PREFIX}/models/releases", ModelReleasesHandler),
]


def handlers(app: LabServices) -> list[tuple[str, type[MlopsHandler], dict[str, Any]]]:
    return [(url, cls, {"app": app}) for url, cls in HANDLERS]
