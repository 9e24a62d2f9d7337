"""Read-only facts about the git repository a file lives in, from the real `git` binary
(run through `safegit.run_git`, so a planted config or hook runs nothing)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import NotAGitRepository
from .redact import redact_urls, strip_userinfo
from .safegit import run_git

__all__ = ["FileGitState", "current_branch", "file_state", "head_commit", "redact_urls",
           "remote_name", "remote_url", "repo_root", "run_git", "strip_userinfo"]


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode(errors="replace").strip()


def repo_root(path: str | os.PathLike[str]) -> Path:
    """The top-level directory of the repository holding `path` (a file or directory)."""
    p = Path(path)
    where = p if p.is_dir() else p.parent
    if not where.exists():
        raise NotAGitRepository(f"{where} does not exist")
    proc = run_git(["rev-parse", "--show-toplevel"], where, check=False)
    if proc.returncode != 0:
        raise NotAGitRepository(
            f"{p} is not inside a git repository; clone the project (or run `git init`) "
            "in a folder and keep the notebook there"
        )
    return Path(_out(proc))


def remote_name(root: Path) -> str | None:
    """`origin` if present, else the first configured remote, else None."""
    names = _out(run_git(["remote"], root)).splitlines()
    if not names:
        return None
    return "origin" if "origin" in names else names[0]


def remote_url(root: Path, name: str) -> str:
    return _out(run_git(["remote", "get-url", name], root))


def current_branch(root: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    proc = run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], root, check=False)
    return _out(proc) or None if proc.returncode == 0 else None


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at, or None in a repository without commits."""
    proc = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root, check=False)
    return _out(proc) or None if proc.returncode == 0 else None


@dataclass(frozen=True)
class FileGitState:
    """Where a file sits in git: repository, commit, branch, remote and whether it changed."""

    root: Path
    relpath: str
    commit: str | None
    branch: str | None
    remote_url: str | None  # userinfo already stripped
    uncommitted_changes: bool
    tracked: bool


def file_state(path: str | os.PathLike[str]) -> FileGitState:
    """Describe `path` in its repository; raise NotAGitRepository outside one."""
    abspath = Path(path).resolve()
    root = repo_root(abspath).resolve()
    rel = abspath.relative_to(root).as_posix()
    remote = remote_name(root)
    url = strip_userinfo(remote_url(root, remote)) if remote else None
    # a submodule has config of its own (filter drivers this call did not empty): skip them
    status = _out(run_git(["status", "--porcelain", "--untracked-files=all",
                           "--ignore-submodules=all", "--", rel], root))
    tracked = run_git(["ls-files", "--error-unmatch", "--", rel], root, check=False).returncode == 0
    return FileGitState(
        root=root,
        relpath=rel,
        commit=head_commit(root),
        branch=current_branch(root),
        remote_url=url,
        uncommitted_changes=bool(status),
        tracked=tracked,
    )
