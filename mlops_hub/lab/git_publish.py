"""Commit one file to a branch, with the real git binary (pushing is `git_push`).

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

from .errors import InvalidInput
from .gitinfo import current_branch, head_commit, repo_root
from .notebook_strip import strip_outputs
from .safegit import run_git

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
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        run_git(["read-tree", parent] if parent else ["read-tree", "--empty"], root,
                extra_env=env)
        run_git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{relpath}"], root,
                extra_env=env)
        tree = run_git(["write-tree"], root, extra_env=env).stdout.decode().strip()
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
    # --no-gpg-sign: a planted commit.gpgSign would run gpg.program
    commit = run_git(["commit-tree", "--no-gpg-sign", tree,
                      *(["-p", parent] if parent else []), "-F", "-"],
                     root, extra_env=identity,
                     input_bytes=message.encode()).stdout.decode().strip()
    # the expected old value makes a concurrent change to the branch fail instead of vanish
    run_git(["update-ref", "-m", "mlops-hub: commit notebook", f"refs/heads/{branch}", commit,
             parent if tip.returncode == 0 else ""], root)
    if branch == checked_out:
        # keep the user's index in step with the new HEAD for this one file
        run_git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{relpath}"], root)
    return CommitResult(root, relpath, branch, commit, created=True)
