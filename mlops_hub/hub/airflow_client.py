"""The hub's calls to Airflow's REST API (apache-airflow-client), as the hub's own Airflow identity.

Only the hub holds that identity's password (a Swarm secret); users reach Airflow through the hub's
jobs API (hub/jobs_api.py) or, in a browser, through the edge with their own login. The generated
client is synchronous: every call runs in a thread, off the hub's event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from airflow_client import client as af
from airflow_client.client.exceptions import ApiException

HUB_IDENTITY = "mlops-hub"
T = TypeVar("T")


class AirflowUnavailable(Exception):
    """Airflow did not answer or refused the hub's identity: a platform problem, not the user's."""


class AirflowClient:
    def __init__(self, url: str, password_file: str | Path, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.password_file = Path(password_file)
        self.timeout = timeout
        self._token: str | None = None
        self._lock = threading.Lock()

    # ---- the hub's token: fetched once, fetched again when Airflow says it expired -------------

    def _fetch_token(self) -> str:
        password = self.password_file.read_text(encoding="utf8").strip()
        body = json.dumps({"username": HUB_IDENTITY, "password": password}).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - our own URL
                return json.loads(answer.read())["access_token"]
        except (OSError, ValueError, KeyError) as e:
            raise AirflowUnavailable(f"cannot log in to Airflow at {self.url}: {e}") from None

    def _api(self, fresh: bool = False) -> af.ApiClient:
        with self._lock:
            if self._token is None or fresh:
                self._token = self._fetch_token()
            return af.ApiClient(af.Configuration(host=self.url, access_token=self._token))

    def _call(self, operation: Callable[[af.ApiClient], T]) -> T:
        try:
            return operation(self._api())
        except ApiException as e:
            if e.status != 401:
                raise
        return operation(self._api(fresh=True))

    async def call(self, operation: Callable[[af.ApiClient], T]) -> T:
        """Run `operation(api_client)` in a thread; ApiException (404, 409, ...) passes through."""
        try:
            return await asyncio.to_thread(self._call, operation)
        except (OSError, af.exceptions.ServiceException) as e:
            raise AirflowUnavailable(f"Airflow at {self.url} did not answer: {e}") from None

    # ---- the operations the jobs API needs ------------------------------------------------------

    async def dag(self, dag_id: str) -> dict | None:
        try:
            return (await self.call(lambda a: af.DAGApi(a).get_dag(dag_id))).to_dict()
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def set_paused(self, dag_id: str, paused: bool) -> dict:
        body = af.DAGPatchBody(is_paused=paused)
        return (await self.call(lambda a: af.DAGApi(a).patch_dag(dag_id, body))).to_dict()

    async def delete_dag(self, dag_id: str) -> None:
        try:
            await self.call(lambda a: af.DAGApi(a).delete_dag(dag_id))
        except ApiException as e:
            if e.status != 404:
                raise

    async def reparse(self, file_token: str) -> None:
        await self.call(lambda a: af.DagParsingApi(a).reparse_dag_file(file_token))

    async def import_errors(self, filename_part: str) -> list[dict]:
        found = await self.call(lambda a: af.ImportErrorApi(a).get_import_errors(filename_pattern=filename_part))
        return [e.to_dict() for e in found.import_errors]

    async def trigger(self, dag_id: str, conf: dict) -> dict:
        body = af.TriggerDAGRunPostBody(logical_date=None, conf=conf)
        return (await self.call(lambda a: af.DagRunApi(a).trigger_dag_run(dag_id, body))).to_dict()

    async def runs(self, dag_id: str, limit: int = 25, offset: int = 0) -> dict:
        found = await self.call(lambda a: af.DagRunApi(a).get_dag_runs(
            dag_id, limit=limit, offset=offset, order_by=["-run_after"]))
        return {"runs": [r.to_dict() for r in found.dag_runs], "total": found.total_entries}

    async def run(self, dag_id: str, run_id: str) -> dict | None:
        try:
            return (await self.call(lambda a: af.DagRunApi(a).get_dag_run(dag_id, run_id))).to_dict()
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        found = await self.call(lambda a: af.TaskInstanceApi(a).get_task_instances(dag_id, run_id))
        return [t.to_dict() for t in found.task_instances]

    async def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, token: str | None) -> dict:
        """A task's log from where `token` left off: {"lines", "continuation_token"}."""
        found = await self.call(lambda a: af.TaskInstanceApi(a).get_log(
            dag_id, run_id, task_id, try_number, full_content=token is None, token=token,
            accept="application/json"))
        return {"lines": log_lines(found.content), "continuation_token": found.continuation_token}


def log_lines(content) -> list[str]:
    """Airflow 3 returns structured log events (dicts with `event`) or plain strings."""
    lines = []
    for item in content.actual_instance if hasattr(content, "actual_instance") else content or []:
        item = item.to_dict() if hasattr(item, "to_dict") else item
        if isinstance(item, dict):
            text = item.get("event", "")
            extra = item.get("error_detail")
            lines.append(f"{text}\n{json.dumps(extra)}" if extra else str(text))
        else:
            lines.append(str(item))
    return lines
