"""Read-only facts about the git repository a file lives in, from the real `git` binary."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import GitFailed, NotAGitRepository

# userinfo inside any URL-looking text (git's stderr echoes remote URLs)
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def strip_userinfo(url: str) -> str:
    """Return `url` without `user:password@`; scp-like `git@host:path` is left as is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_urls(text: str) -> str:
    """Remove userinfo from every URL in free text (for error messages and logs)."""
    return _USERINFO_IN_TEXT.sub(lambda m: m.group("scheme"), text)


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    input_bytes: bytes | None = None,
    timeout: float = 60,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` in `cwd`; raise GitFailed with git's (redacted) message on failure."""
    base_env = dict(os.environ if env is None else env)
    # never wait for a terminal prompt inside a server or a kernel
    base_env["GIT_TERMINAL_PROMPT"] = "0"
    base_env.setdefault("LC_ALL", "C")  # stable English messages we can match on
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=str(cwd),
            env=base_env,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed in this environment") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(f"git did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        command = next((a for a in args if not a.startswith("-") and "=" not in a), "")
        raise GitFailed(
            f"git {command} failed: {redact_urls(proc.stderr.decode(errors='replace').strip())}"
        )
    return proc


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
    status = _out(run_git(["status", "--porcelain", "--untracked-files=all", "--", rel], root))
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
