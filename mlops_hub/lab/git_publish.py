"""Commit one file to a branch and push it, with the real git binary.

The commit is built with plumbing in a private index, so neither the working tree nor
the user's staged changes are touched, and a stripped notebook can be committed while
the outputs stay in the open file.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .askpass import NO_CREDENTIAL_HELPERS, git_auth_env
from .errors import GitFailed, GitLabUnavailable, InvalidInput, LabError, PushRejected
from .gitinfo import current_branch, head_commit, redact_urls, repo_root, run_git, strip_userinfo
from .notebook_strip import strip_outputs

# letters and digits of any script ("ветка-1"); git check-ref-format has the last word
_BRANCH_OK = re.compile(r"^[\w./-]{1,200}\Z")


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class CommitResult:
    root: Path
    relpath: str
    branch: str
    commit: str
    created: bool  # False when the branch already held exactly this content


def validate_branch(root: Path, branch: str) -> str:
    """`branch` if git accepts it as a branch name; else InvalidInput naming the rule."""
    ok = _BRANCH_OK.match(branch) and run_git(
        ["check-ref-format", "--branch", branch], root, check=False
    ).returncode == 0
    if not ok:
        raise InvalidInput(
            f"'branch' {branch!r} is not a valid branch name: use letters (any script), digits, '.', '_', "
            "'-' and '/', without '..', spaces or a leading '-'"
        )
    return branch


def commit_file(
    path: Path,
    *,
    message: str,
    author: Author,
    branch: str | None = None,
    strip: bool = False,
    remote: str | None = None,
) -> CommitResult:
    """Commit the current content of `path` (outputs stripped if `strip`) onto `branch`.

    The branch's parent is its local tip, else `remote`'s copy of it, else HEAD.
    """
    if not message.strip():
        raise InvalidInput("'message' must not be empty: say what changed")
    abspath = path.resolve()
    root = repo_root(abspath).resolve()
    try:
        relpath = abspath.relative_to(root).as_posix()
    except ValueError:
        raise InvalidInput(f"{path.name} links to a file outside its repository") from None
    checked_out = current_branch(root)
    branch = validate_branch(root, branch) if branch else checked_out
    if not branch:
        raise InvalidInput("the repository is on a detached HEAD; give 'branch' to commit to")
    raw = abspath.read_bytes()
    if strip:
        try:
            raw = strip_outputs(raw)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # malformed JSON
            raise InvalidInput(f"{relpath} is not a valid notebook, cannot strip outputs: {exc}"
                               ) from None
    tip = run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"],
                  root, check=False)
    parent = tip.stdout.decode().strip() if tip.returncode == 0 else None
    if parent is None and remote:
        # a branch saved before from another clone continues where it is, not from HEAD
        tracked = run_git(["rev-parse", "--verify", "--quiet",
                           f"refs/remotes/{remote}/{branch}^{{commit}}"], root, check=False)
        parent = tracked.stdout.decode().strip() if tracked.returncode == 0 else None
    parent = parent or head_commit(root)

    blob = run_git(["hash-object", "-w", "--stdin", f"--path={relpath}"], root,
                   input_bytes=raw).stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="mlops-hub-index-") as tmp:
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(tmp, "index"))
        run_git(["read-tree", parent] if parent else ["read-tree", "--empty"], root, env=env)
        run_git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{relpath}"], root,
                env=env)
        tree = run_git(["write-tree"], root, env=env).stdout.decode().strip()
    if parent and tree == run_git(["rev-parse", f"{parent}^{{tree}}"], root
                                  ).stdout.decode().strip():
        # nothing new; still make sure the branch exists locally so it can be pushed
        if tip.returncode != 0:
            run_git(["update-ref", f"refs/heads/{branch}", parent, ""], root)
        return CommitResult(root, relpath, branch, parent, created=False)

    identity = {
        "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email,
    }
    commit = run_git(["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"],
                     root, env=dict(os.environ, **identity),
                     input_bytes=message.encode()).stdout.decode().strip()
    # the expected old value makes a concurrent change to the branch fail instead of vanish
    run_git(["update-ref", "-m", "mlops-hub: commit notebook", f"refs/heads/{branch}", commit,
             parent if tip.returncode == 0 else ""], root)
    if branch == checked_out:
        # keep the user's index in step with the new HEAD for this one file
        run_git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{relpath}"], root)
    return CommitResult(root, relpath, branch, commit, created=True)


def push_branch(root: Path, remote: str, branch: str, token: str, *, timeout: float = 120,
                username: str = "oauth2") -> None:
    """Push `branch` to `remote`, authenticating with `token` via GIT_ASKPASS."""
    try:
        proc = run_git([*NO_CREDENTIAL_HELPERS, "push", "--porcelain", remote,
                        f"refs/heads/{branch}:refs/heads/{branch}"],
                       root, env=git_auth_env(token, username), timeout=timeout, check=False)
    except GitFailed:
        raise GitLabUnavailable(f"the push of '{branch}' did not finish within {timeout:.0f} s; "
                                "GitLab may be slow or unreachable, try again later") from None
    if proc.returncode == 0:
        return
    # --porcelain reports refused refs on stdout, transport errors on stderr
    text = (proc.stdout + proc.stderr).decode(errors="replace").replace(token, "***")
    url = strip_userinfo(run_git(["remote", "get-url", remote], root).stdout.decode().strip())
    if any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first")):
        raise PushRejected(
            f"the push to branch '{branch}' was rejected: {url} has commits on it that "
            "this copy does not. Pull them first (`git pull --rebase` in a terminal), "
            "then save again, or save to a new branch"
        )
    if any(s in text for s in ("[remote rejected]", "protected branch")):
        raise PushRejected(f"GitLab refused the push to '{branch}' ({_errors(text)}); the "
                           "branch may be protected: save to a new branch and open a merge "
                           "request")
    if any(s in text for s in ("Authentication failed", "could not read", "401", "403")):
        raise LabError(
            f"{url} refused your GitLab token for pushing; log in to the hub again, or "
            "save a token with the write_repository scope", status=403,
            reason="gitlab-token-refused")
    if any(s in text for s in ("Could not resolve host", "Failed to connect",
                               "Connection refused", "timed out")):
        raise GitLabUnavailable(f"GitLab at {url} is unreachable; try again later")
    raise GitFailed(f"git push to {url} failed: {redact_urls(_errors(text))}")


def _errors(text: str) -> str:
    """git's error lines without its hints."""
    lines = [ln for ln in text.splitlines() if ln.startswith(("error:", "fatal:", "!"))]
    return " ".join(lines)[:500] or text.strip()[:500]
