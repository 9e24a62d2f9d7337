"""The extension's HTTP API: authentication, authorization, XSRF, CORS, and errors a person
can act on. Uses pytest-jupyter's server with the extension loaded."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError

from mlops_hub.lab import handlers as handlers_module
from mlops_hub.lab.handlers import HANDLERS, MlopsHandler
from mlops_hub.lab.tokens import StaticTokenSource
from tests.support.ports import free_port

from .conftest import notebook_json

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


def test_every_handler_method_is_authenticated_and_authorized() -> None:
    """Like the extension template's check: no handler method lacks the auth decorators."""
    classes = {cls for _, cls in HANDLERS}
    # every MlopsHandler subclass in the module must be routed, so none escapes this check
    declared = {obj for obj in vars(handlers_module).values()
                if inspect.isclass(obj) and issubclass(obj, MlopsHandler) and obj is not MlopsHandler}
    assert declared == classes
    checked = 0
    for cls in classes:
        assert cls.auth_resource == "mlops_hub"
        for name in HTTP_METHODS:
            method = cls.__dict__.get(name)
            if method is None:
                continue
            source = inspect.getsource(method)
            decorators = re.findall(r"^\s*@([\w.]+)", source, re.MULTILINE)
            assert decorators[:2] == ["web.authenticated", "authorized"], (cls, name)
            checked += 1
        # nothing relaxes the base class's XSRF or origin checks
        for name in ("check_xsrf_cookie", "check_origin", "set_default_headers"):
            assert name not in cls.__dict__, (cls, name)
    assert checked >= 7


def _routes() -> list[tuple[str, str]]:
    """(method, url) for every HTTP method every routed handler defines."""
    # a route's groups filled in (a job id, a run id, "log"), so each request reaches its handler
    return [(name.upper(), url.removeprefix("/").replace("([^/]+)", "nb__x").replace("(log)", "log"))
            for url, cls in HANDLERS for name in HTTP_METHODS if name in cls.__dict__]


def _body(method: str) -> str | None:
    return json.dumps({"token": "x", "path": "x.ipynb", "message": "m"}) if method in (
        "POST", "PUT", "PATCH") else None


async def test_unauthenticated_requests_are_refused(jp_fetch: Any, lab_app: Any) -> None:
    routes = _routes()
    assert len(routes) >= 7
    for method, url in routes:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(url, method=method, params={"path": "x.ipynb", "name": "x"},
                           body=_body(method), headers={"Authorization": ""})
        assert err.value.code == 403, (method, url)


async def test_authorizer_is_consulted_for_the_mlops_hub_resource(jp_fetch: Any, lab_app: Any,
                                                                  jp_serverapp: Any,
                                                                  monkeypatch: Any) -> None:
    """@authorized really asks the server's authorizer, with our resource and the action."""
    asked: list[tuple[str, str]] = []

    def deny(handler: Any, user: Any, action: str, resource: str) -> bool:
        asked.append((action, resource))
        return False

    monkeypatch.setattr(jp_serverapp.authorizer, "is_authorized", deny)
    for method, url in _routes():
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(url, method=method, params={"path": "x.ipynb", "name": "x"},
                           body=_body(method))
        assert err.value.code == 403, (method, url)
    assert {r for _, r in asked} == {"mlops_hub"}
    assert {"read", "write"} <= {a for a, _ in asked}


def test_lab_imports_no_hub_only_module() -> None:
    """User containers may lack the hub's dependencies: the lab side must not need them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for m in ('docker', 'dockerspawner', 'jupyterhub.app', 'jupyterhub.spawner'):\n"
        "    sys.modules[m] = None  # importing any of them now raises ImportError\n"
        "import pkgutil, importlib, mlops_hub.lab as lab\n"
        "for m in pkgutil.iter_modules(lab.__path__):\n"
        "    importlib.import_module('mlops_hub.lab.' + m.name)\n"
        # the hub's release API client (requests only) is shared with `mlops-hub model release`
        "shared = ('mlops_hub.release', 'mlops_hub.release.hub_client')\n"
        "assert not any(k.startswith('mlops_hub.') and k.split('.')[1] not in ('lab', 'names') and k not in shared\n"
        "               for k in sys.modules), sorted(sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_extension_and_context_provider_are_registered() -> None:
    from importlib.metadata import entry_points

    from mlops_hub.lab import _jupyter_server_extension_points
    from mlops_hub.lab.app import MlopsLabApp
    from mlops_hub.lab.context import NotebookRunContext

    config = Path(handlers_module.__file__).with_name("jupyter-config") / "mlops_hub.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"] == {
        "mlops_hub.lab": True}
    assert _jupyter_server_extension_points() == [{"module": "mlops_hub.lab",
                                                   "app": MlopsLabApp}]
    (ep,) = [e for e in entry_points(group="mlflow.run_context_provider")
             if e.value.startswith("mlops_hub.")]
    assert ep.load() is NotebookRunContext


@pytest.fixture
async def browser(jp_serverapp: Any, lab_app: Any, http_server_client: Any,
                  jp_base_url: str) -> dict[str, str]:
    """A logged-in browser session: the cookies and XSRF token a page would hold."""
    login = f"{jp_base_url}login"
    first = await http_server_client.fetch(login, raise_error=False)
    xsrf = re.search(r"_xsrf=([^;]+)", first.headers.get("Set-Cookie", "")).group(1)
    token = jp_serverapp.identity_provider.token
    resp = await http_server_client.fetch(
        login, method="POST", body=urlencode({"password": token, "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"}, follow_redirects=False, raise_error=False)
    assert resp.code == 302
    cookies = "; ".join(c.split(";")[0] for c in resp.headers.get_list("Set-Cookie"))
    return {"cookies": f"{cookies}; _xsrf={xsrf}", "xsrf": xsrf}


async def test_cookie_authenticated_write_needs_xsrf_token(browser: dict[str, str], lab_app: Any,
                                                           http_server_client: Any,
                                                           jp_base_url: str) -> None:
    """A browser session (cookie) may not write without the XSRF token: no CSRF."""
    url = f"{jp_base_url}mlops-hub/gitlab/token"
    body = json.dumps({"token": "glpat-saved"})
    without = await http_server_client.fetch(url, method="PUT", body=body,
                                             headers={"Cookie": browser["cookies"]},
                                             raise_error=False)
    assert without.code == 403
    assert lab_app.saved_tokens._tokens == {}

    with_token = await http_server_client.fetch(
        url, method="PUT", body=body,
        headers={"Cookie": browser["cookies"], "X-XSRFToken": browser["xsrf"]},
        raise_error=False)
    assert with_token.code == 204
    assert list(lab_app.saved_tokens._tokens.values()) == ["glpat-saved"]


async def test_cross_origin_request_is_refused_without_cors_headers(
        browser: dict[str, str], lab_app: Any, http_server_client: Any, jp_base_url: str) -> None:
    """A page on another origin riding the user's session is refused; no CORS is granted."""
    headers = {"Cookie": browser["cookies"], "X-XSRFToken": browser["xsrf"],
               "Origin": "https://evil.example"}
    resp = await http_server_client.fetch(
        f"{jp_base_url}mlops-hub/gitlab/token", method="PUT",
        body=json.dumps({"token": "glpat-x"}), headers=headers, raise_error=False)
    assert resp.code in (403, 404)
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert lab_app.saved_tokens._tokens == {}
    read = await http_server_client.fetch(f"{jp_base_url}mlops-hub/context", headers=headers,
                                          raise_error=False)
    assert read.code in (403, 404)
    assert "Access-Control-Allow-Origin" not in read.headers


async def test_context_reports_the_spawner_environment(fetch_json: Any, monkeypatch: Any,
                                                       lab_app: Any) -> None:
    monkeypatch.setenv("CPU_LIMIT", "2.0")
    monkeypatch.setenv("MEM_LIMIT", "4294967296")
    status, body = await fetch_json("mlops-hub/context")
    assert status == 200
    assert body["cpu_limit"] == "2.0" and body["mem_limit"] == "4294967296"
    assert body["mlflow_ui_url"] == "https://mlflow.example.org"


async def test_runs_without_path_names_the_missing_field(fetch_json: Any) -> None:
    status, body = await fetch_json("mlops-hub/mlflow/runs")
    assert status == 400
    assert "'path'" in body["message"]


async def test_error_messages_keep_percent_signs(fetch_json: Any) -> None:
    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={"path": "../100%/x.ipynb"})
    assert status == 400
    assert "'../100%/x.ipynb'" in body["message"]


async def test_runs_rejects_a_path_outside_the_root(fetch_json: Any) -> None:
    status, body = await fetch_json("mlops-hub/mlflow/runs", params={"path": "../../etc/x"})
    assert status == 400
    assert "outside the server's root" in body["message"]


async def test_bad_max_results_is_explained(fetch_json: Any) -> None:
    status, body = await fetch_json("mlops-hub/mlflow/runs",
                                    params={"path": "a.ipynb", "max_results": "5000"})
    assert status == 400
    assert "'max_results' must be between 1 and 1000" in body["message"]


async def test_mlflow_unreachable_is_a_clear_502(fetch_json: Any, lab_app: Any) -> None:
    from mlops_hub.lab.mlflow_backend import MlflowRunsBackend

    dead = f"http://127.0.0.1:{free_port()}"
    lab_app.runs_backend = MlflowRunsBackend(dead, timeout=2, max_retries=0)
    status, body = await fetch_json("mlops-hub/mlflow/runs", params={"path": "a.ipynb"})
    assert status == 502
    assert body["reason"] == "mlflow-unavailable"
    assert dead in body["message"] and "check that the MLflow service is running" in body["message"]


async def test_mlflow_host_check_refusal_names_the_fix(fetch_json: Any, lab_app: Any) -> None:
    """MLflow >= 3 refuses unknown Host headers with a plain-text 403 (its DNS-rebinding guard)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlops_hub.lab.mlflow_backend import MlflowRunsBackend

    class Refusing(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = b"Invalid Host header - possible DNS rebinding attack detected"
            self.send_response(403)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lab_app.runs_backend = MlflowRunsBackend(
            f"http://127.0.0.1:{server.server_address[1]}", timeout=5, max_retries=0)
        status, body = await fetch_json("mlops-hub/mlflow/runs", params={"path": "a.ipynb"})
    finally:
        server.shutdown()
        server.server_close()
    assert status == 502
    assert "--allowed-hosts" in body["message"]


async def test_mlflow_not_configured_is_a_clear_503(fetch_json: Any, lab_app: Any) -> None:
    lab_app.runs_backend = None
    status, body = await fetch_json("mlops-hub/mlflow/experiment", params={"name": "x"})
    assert status == 503
    assert "MLFLOW_TRACKING_URI" in body["message"]


async def test_save_outside_a_git_repository_is_explained(fetch_json: Any,
                                                          jp_root_dir: Path) -> None:
    (jp_root_dir / "loose.ipynb").write_text(notebook_json("1"))
    status, body = await fetch_json("mlops-hub/gitlab/save", method="POST",
                                    body=json.dumps({"path": "loose.ipynb", "message": "m"}))
    assert status == 409
    assert body["reason"] == "not-a-git-repository"
    assert "not inside a git repository" in body["message"]


@pytest.mark.parametrize("payload,field", [
    ({"path": "a.ipynb"}, "'message'"),
    ({"message": "m"}, "'path'"),
    ({"path": "a.ipynb", "message": "m", "strip_outputs": "yes"}, "'strip_outputs'"),
    ({"path": "a.ipynb", "message": "m", "colour": "red"}, "colour"),
])
async def test_save_rejects_bad_input_naming_the_field(fetch_json: Any, payload: dict[str, Any],
                                                       field: str) -> None:
    status, body = await fetch_json("mlops-hub/gitlab/save", method="POST",
                                    body=json.dumps(payload))
    assert status == 400
    assert field in body["message"]


async def test_save_without_a_token_says_how_to_get_one(fetch_json: Any, lab_app: Any,
                                                        clone: Path) -> None:
    lab_app.token_source = StaticTokenSource(None)
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await fetch_json("mlops-hub/gitlab/save", method="POST",
                                    body=json.dumps({"path": "analysis/nb.ipynb", "message": "m"}))
    assert status == 401
    assert body["reason"] == "gitlab-token-missing"
    assert "log in to the hub with GitLab" in body["message"]


async def test_only_the_owner_may_save(fetch_json: Any, lab_app: Any) -> None:
    lab_app.owner = "somebody-else"
    status, body = await fetch_json("mlops-hub/gitlab/save", method="POST",
                                    body=json.dumps({"path": "a.ipynb", "message": "m"}))
    assert status == 403
    assert "somebody-else" in body["message"]


async def test_saved_token_round_trip(fetch_json: Any, lab_app: Any) -> None:
    status, _ = await fetch_json("mlops-hub/gitlab/token", method="PUT",
                                 body=json.dumps({"token": "glpat-mine"}))
    assert status == 204
    assert (await fetch_json("mlops-hub/gitlab/token"))[1] == {"saved": True}
    status, _ = await fetch_json("mlops-hub/gitlab/token", method="DELETE")
    assert status == 204
    assert (await fetch_json("mlops-hub/gitlab/token"))[1] == {"saved": False}
    status, body = await fetch_json("mlops-hub/gitlab/token", method="PUT",
                                    body=json.dumps({"token": ""}))
    assert status == 400 and "'token'" in body["message"]
