"""Saving a notebook to GitLab: real git pushes over HTTP (git http-backend with basic auth)
through the GIT_ASKPASS path; GitLab's REST API answered by a double of its v4 API."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mlops_hub.lab.errors import LabError
from mlops_hub.lab.git_push import push_branch
from mlops_hub.lab.gitinfo import redact_urls, strip_userinfo
from mlops_hub.lab.gitlab_backend import PythonGitLabBackend
from mlops_hub.lab.tokens import HubAuthStateTokenSource, StaticTokenSource
from tests.support.git_http import GitHttpServer
from tests.support.gitlab_double import GitLabApiDouble
from tests.support.ports import free_port

from .conftest import TOKEN, git, notebook_json


@pytest.fixture
def all_logs(jp_serverapp: Any, lab_app: Any) -> Iterator[io.StringIO]:
    """Everything any logger writes during the test, at DEBUG."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), jp_serverapp.log, lab_app.log, logging.getLogger("tornado")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield buf
    for lg, level in old:
        lg.removeHandler(handler)
        lg.setLevel(level)


def project_path(clone: Path) -> str:
    url = git("remote", "get-url", "origin", cwd=clone)
    return url.split("/", 3)[3].removesuffix(".git")


def bare(git_server: GitHttpServer, clone: Path) -> Path:
    return git_server.bare_repo(project_path(clone) + ".git")


async def save(fetch_json: Any, **body: Any) -> tuple[int, Any]:
    return await fetch_json("mlops-hub/gitlab/save", method="POST", body=json.dumps(body))


async def test_save_strips_outputs_commits_as_the_user_and_pushes_with_askpass(
        fetch_json: Any, clone: Path, git_server: GitHttpServer, all_logs: io.StringIO,
        jp_home_dir: Path) -> None:
    nb = clone / "train.ipynb"
    nb.write_text(notebook_json("print(42)", outputs=True))
    # a credential helper the user configured must not be handed (or store) our token
    creds = clone.parent / "stored-credentials"
    git("config", "credential.helper", f"store --file={creds}", cwd=clone)
    attempts_before = len(git_server.auth_attempts)

    status, body = await save(fetch_json, path="analysis/train.ipynb",
                              message="Add training notebook", strip_outputs=True)
    assert status == 200, body
    remote = bare(git_server, clone)
    tip = git("--git-dir", str(remote), "rev-parse", "main", cwd=clone)
    assert body["commit"] == tip and body["branch"] == "main" and body["committed"] is True
    project = project_path(clone)
    assert body["project"] == project
    assert body["commit_url"] == f"{git_server.url}/{project}/-/commit/{tip}"
    assert body["branch_url"] == f"{git_server.url}/{project}/-/tree/main"
    assert git("--git-dir", str(remote), "log", "-1", "--format=%an <%ae>|%cn|%s", "main",
               cwd=clone) == "Ada Lovelace <ada@example.org>|Ada Lovelace|Add training notebook"

    pushed = json.loads(git("--git-dir", str(remote), "show", "main:train.ipynb", cwd=clone))
    assert pushed["cells"][0]["outputs"] == [] and pushed["cells"][0]["execution_count"] is None
    # the open file keeps its outputs: only the commit is stripped
    assert json.loads(nb.read_text())["cells"][0]["outputs"]
    assert git("status", "--porcelain", cwd=clone) == "M train.ipynb"

    # the push authenticated through askpass with the token as password
    assert ("oauth2", True) in git_server.auth_attempts[attempts_before:]
    git_dir_text = "".join(p.read_text(errors="replace")
                           for p in (clone / ".git").rglob("*") if p.is_file())
    assert TOKEN not in git_dir_text
    assert TOKEN not in (clone / ".git" / "config").read_text()
    assert not creds.exists()
    assert not (jp_home_dir / ".git-credentials").exists()
    logs = all_logs.getvalue()
    assert "saved analysis/train.ipynb" in logs  # the capture works
    assert TOKEN not in logs


async def test_merge_request_against_gitlab_api_double(
        fetch_json: Any, clone: Path, gitlab_api: GitLabApiDouble, git_server: GitHttpServer,
        all_logs: io.StringIO) -> None:
    nb = clone / "eval.ipynb"
    nb.write_text(notebook_json("x = 1"))
    status, body = await save(fetch_json, path="analysis/eval.ipynb", message="Evaluate model",
                              branch="feature/eval", merge_request=True,
                              description="numbers inside")
    assert status == 200, body
    project = gitlab_api.projects[project_path(clone)]
    mr = body["merge_request"]
    assert mr == {"iid": 1, "url": f"{project['web_url']}/-/merge_requests/1", "created": True}
    (stored,) = [m for m in gitlab_api.merge_requests if m["project_id"] == project["id"]]
    assert stored["source_branch"] == "feature/eval" and stored["target_branch"] == "main"
    assert stored["title"] == "Evaluate model" and stored["description"] == "numbers inside"
    encoded = project["path_with_namespace"].replace("/", "%2F")
    assert ("GET", f"/api/v4/projects/{encoded}") in gitlab_api.requests
    assert ("POST", f"/api/v4/projects/{project['id']}/merge_requests") in gitlab_api.requests
    # the branch exists on the server and main was not touched
    remote = bare(git_server, clone)
    assert git("--git-dir", str(remote), "rev-parse", "feature/eval", cwd=clone) == body["commit"]
    assert git("--git-dir", str(remote), "log", "--format=%s", "main", cwd=clone) == "seed"

    # saving again updates the branch and reuses the open merge request
    nb.write_text(notebook_json("x = 2"))
    status, again = await save(fetch_json, path="analysis/eval.ipynb", message="Tune",
                               branch="feature/eval", merge_request=True)
    assert status == 200, again
    assert again["merge_request"]["created"] is False and again["merge_request"]["iid"] == 1
    assert git("--git-dir", str(remote), "rev-parse", "feature/eval^", cwd=clone) == body["commit"]
    assert TOKEN not in all_logs.getvalue()


async def test_saving_unchanged_content_pushes_without_a_new_commit(fetch_json: Any,
                                                                   clone: Path) -> None:
    status, body = await save(fetch_json, path="analysis/README.md", message="again")
    assert status == 200, body
    assert body["committed"] is False
    assert body["commit"] == git("rev-parse", "HEAD", cwd=clone)


async def test_rejected_push_says_to_pull_first(fetch_json: Any, clone: Path, project: str,
                                               tmp_path: Path) -> None:
    from mlops_hub.lab.askpass import git_auth_env

    other = tmp_path / "colleague"
    git("clone", "-q", project, str(other), cwd=tmp_path, env=git_auth_env(TOKEN))
    (other / "README.md").write_text("changed by a colleague\n")
    git("-c", "user.name=Bo", "-c", "user.email=bo@example.org", "commit", "-qam", "theirs",
        cwd=other)
    git("push", "-q", "origin", "main", cwd=other, env=git_auth_env(TOKEN))

    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="mine")
    assert status == 409
    assert body["reason"] == "push-rejected"
    assert "git pull --rebase" in body["message"]
    assert TOKEN not in body["message"]


async def test_saving_to_a_branch_that_exists_only_on_the_remote_continues_it(
        fetch_json: Any, clone: Path, project: str, tmp_path: Path,
        git_server: GitHttpServer) -> None:
    from mlops_hub.lab.askpass import git_auth_env

    other = tmp_path / "colleague"
    git("clone", "-q", project, str(other), cwd=tmp_path, env=git_auth_env(TOKEN))
    git("checkout", "-qb", "feature/shared", cwd=other)
    (other / "notes.md").write_text("theirs\n")
    git("add", "notes.md", cwd=other)
    git("-c", "user.name=Bo", "-c", "user.email=bo@example.org", "commit", "-qm", "theirs",
        cwd=other)
    git("push", "-q", "origin", "feature/shared", cwd=other, env=git_auth_env(TOKEN))
    git("fetch", "-q", "origin", cwd=clone, env=git_auth_env(TOKEN))
    theirs = git("rev-parse", "origin/feature/shared", cwd=clone)

    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="mine",
                              branch="feature/shared")
    assert status == 200, body
    remote = bare(git_server, clone)
    assert git("--git-dir", str(remote), "rev-parse", "feature/shared^", cwd=clone) == theirs
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=clone) == "main"  # checkout untouched


def test_push_with_a_refused_token_is_explained(clone: Path, git_server: GitHttpServer) -> None:
    (clone / "a.txt").write_text("a")
    with pytest.raises(LabError) as err:
        push_branch(clone, "origin", "main", "glpat-wrong", gitlab_url=git_server.url)
    assert err.value.status == 403
    assert "refused your GitLab token" in err.value.message
    assert "glpat-wrong" not in err.value.message


async def test_remote_on_another_host_never_gets_the_token(
        fetch_json: Any, clone: Path, git_server: GitHttpServer,
        gitlab_api: GitLabApiDouble) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}/team/analysis.git"
    git("remote", "set-url", "origin", elsewhere, cwd=clone)
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    seen = (len(git_server.auth_attempts), len(gitlab_api.requests))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="m")
    assert status == 400
    assert "only sent to" in body["message"]
    assert (len(git_server.auth_attempts), len(gitlab_api.requests)) == seen


async def test_gitlab_down_is_a_clear_502(fetch_json: Any, clone: Path, lab_app: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    lab_app.gitlab_url = dead
    lab_app.gitlab_backend = PythonGitLabBackend(dead, timeout=5)
    git("remote", "set-url", "origin", f"{dead}/team/analysis.git", cwd=clone)
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="m")
    assert status == 502
    assert body["reason"] == "gitlab-unavailable"
    assert dead in body["message"] and "try again later" in body["message"]


async def test_gitlab_refusing_the_token_is_explained(fetch_json: Any, clone: Path,
                                                      lab_app: Any) -> None:
    lab_app.token_source = StaticTokenSource("glpat-expired")
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="m")
    assert status == 403
    assert "log in to the hub again" in body["message"]
    assert "glpat-expired" not in json.dumps(body)


async def test_saved_token_is_used_before_the_hub(fetch_json: Any, clone: Path,
                                                  lab_app: Any) -> None:
    lab_app.token_source = lab_app._default_token_source()  # saved first, then the hub
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="m")
    assert status == 401  # no hub here and nothing saved yet
    status, _ = await fetch_json("mlops-hub/gitlab/token", method="PUT",
                                 body=json.dumps({"token": TOKEN}))
    assert status == 204
    status, body = await save(fetch_json, path="analysis/nb.ipynb", message="m")
    assert status == 200, body


def test_notebook_api_saves_from_kernel_code(clone: Path, git_server: GitHttpServer,
                                             monkeypatch: Any) -> None:
    from mlops_hub.lab import save_notebook

    nb = clone / "api.ipynb"
    nb.write_text(notebook_json("1", outputs=True))
    monkeypatch.setenv("MLOPS_GITLAB_URL", git_server.url)
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    result = save_notebook("from the notebook", token=TOKEN, branch="api")
    remote = bare(git_server, clone)
    assert git("--git-dir", str(remote), "rev-parse", "api", cwd=clone) == result["commit"]
    pushed = json.loads(git("--git-dir", str(remote), "show", "api:api.ipynb", cwd=clone))
    assert pushed["cells"][0]["outputs"] == []  # stripping is the default from code


class _HubApiDouble(BaseHTTPRequestHandler):
    """JupyterHub's `GET /hub/api/user` for a server token (auth_state needs the scope)."""

    api_token = "hub-server-token"
    model: ClassVar[dict[str, Any]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        ok = self.path == "/hub/api/user" and self.headers.get(
            "Authorization") == f"token {self.api_token}"
        payload = json.dumps(self.model if ok else {"status": 403, "message": "Forbidden"})
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())


@pytest.fixture
def hub_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubApiDouble)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    server.shutdown()
    server.server_close()


async def test_token_from_auth_state_against_hub_api_double(hub_api: str) -> None:
    _HubApiDouble.model = {"name": "ada", "kind": "user",
                           "auth_state": {"access_token": TOKEN, "gitlab_user": {"id": 7}}}
    source = HubAuthStateTokenSource(hub_api, "hub-server-token")
    assert await source.token_for("ada") == TOKEN
    assert await source.token_for("bob") is None  # the hub answered for someone else
    assert await HubAuthStateTokenSource(hub_api, "wrong").token_for("ada") is None
    _HubApiDouble.model = {"name": "ada", "kind": "user"}  # token lacks admin:auth_state
    assert await source.token_for("ada") is None


def test_strip_userinfo_and_redaction() -> None:
    assert strip_userinfo("https://u:p@git.example.org:8443/g/p.git") == \
        "https://git.example.org:8443/g/p.git"
    assert strip_userinfo("https://oauth2@git.example.org/g/p.git") == \
        "https://git.example.org/g/p.git"
    assert strip_userinfo("git@git.example.org:g/p.git") == "git@git.example.org:g/p.git"
    assert redact_urls("fatal: unable to access 'https://x:secret@h/p.git/'") == \
        "fatal: unable to access 'https://h/p.git/'"


def test_askpass_helper_holds_no_secret() -> None:
    from mlops_hub.lab.askpass import git_auth_env

    env = git_auth_env(TOKEN)
    script = Path(env["GIT_ASKPASS"])
    assert TOKEN not in script.read_text()
    assert os.stat(script).st_mode & 0o077 == 0
    out = subprocess.run([str(script), "Password for 'http://h': "], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out == TOKEN + "\n"


async def test_git_status_of_a_notebook(fetch_json: Any, clone: Path, project: str) -> None:
    (clone / "new.ipynb").write_text(notebook_json("1"))
    status, body = await fetch_json("mlops-hub/git/status", params={"path": "analysis/new.ipynb"})
    assert status == 200, body
    assert body["git_path"] == "new.ipynb" and body["branch"] == "main"
    assert body["commit"] == git("rev-parse", "HEAD", cwd=clone)
    assert body["remote_url"] == project
    assert body["uncommitted_changes"] is True and body["tracked"] is False
    status, body = await fetch_json("mlops-hub/git/status", params={"path": "analysis/README.md"})
    assert body["uncommitted_changes"] is False and body["tracked"] is True
