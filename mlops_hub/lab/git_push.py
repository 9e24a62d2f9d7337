"""Push one branch to the configured GitLab, from a clean repository that shares objects.

`git push origin` in the user's repository would read that repository's config: pushurl,
insteadOf rewrites, `http.proxy`, `http.<url>.*`, hooks, credential helpers - all writable
by anyone sharing the folder. So the push runs in a throw-away bare repository with no
config but ours (no system or global config either) that borrows the user's objects through
`objects/info/alternates`, and sends the branch's commit to the one URL `push_target`
checked. Nothing is rewritten after that check.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from .askpass import askpass_pipe
from .errors import GitFailed, GitLabUnavailable, LabError, PushRejected
from .gitinfo import remote_url
from .push_target import PushTarget, on_gitlab, push_target
from .redact import redact_urls
from .safegit import run_git

# no system or global config: the push sees only the settings run_git passes
_CLEAN = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _git_path(root: Path, name: str) -> Path:
    out = run_git(["rev-parse", "--path-format=absolute", "--git-path", name], root)
    return Path(out.stdout.decode().strip())


@contextmanager
def clean_repository(root: Path) -> Iterator[Path]:
    """A temporary bare repository seeing `root`'s objects, with no hooks and no config."""
    with tempfile.TemporaryDirectory(prefix="mlops-hub-push-") as tmp:
        gitdir = Path(tmp) / "repo.git"
        # --template= copies no hooks or config from a template directory
        run_git(["init", "-q", "--bare", "--template=", str(gitdir)], tmp, extra_env=_CLEAN)
        info = gitdir / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(f"{_git_path(root, 'objects')}\n")
        shallow = _git_path(root, "shallow")
        if shallow.is_file():  # a shallow clone's boundary, or the push looks for parents
            shutil.copyfile(shallow, gitdir / "shallow")
        yield gitdir


def push_branch(root: Path, remote: str, branch: str, token: str, *, gitlab_url: str,
                timeout: float = 120, username: str = "oauth2") -> PushTarget:
    """Push `branch` of `root` to where `remote` points, if that is on `gitlab_url`.

    The token reaches git only through the askpass pipe; returns the checked target.
    """
    target = push_target(root, remote, gitlab_url)
    commit = run_git(["rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}"], root
                     ).stdout.decode().strip()
    scheme = urlsplit(target.url).scheme
    with clean_repository(root) as gitdir, askpass_pipe(token, username) as (auth, fd):
        try:
            proc = run_git(
                ["push", "--porcelain", "--no-verify", target.url,
                 f"{commit}:refs/heads/{branch}"],
                gitdir, timeout=timeout, check=False, pass_fds=(fd,),
                extra_env={**_CLEAN, "GIT_DIR": str(gitdir), **auth},
                extra_config=[(f"protocol.{scheme}.allow", "always")])
        except GitFailed:
            raise GitLabUnavailable(f"the push of '{branch}' did not finish within "
                                    f"{timeout:.0f} s; GitLab may be slow or unreachable, try "
                                    "again later") from None
    if proc.returncode == 0:
        _note_pushed(root, remote, branch, commit, target, gitlab_url)
        return target
    raise _push_error(proc.stdout + proc.stderr, target.url, branch, token)


def _note_pushed(root: Path, remote: str, branch: str, commit: str, target: PushTarget,
                 gitlab_url: str) -> None:
    """Move `<remote>/<branch>` as `git push <remote>` would, when the remote fetches from
    the URL pushed to (so `git status` does not report the saved commit as unpushed)."""
    try:
        fetches_from = on_gitlab(remote_url(root, remote), gitlab_url).url
    except LabError:
        return
    if fetches_from == target.url:
        run_git(["update-ref", f"refs/remotes/{remote}/{branch}", commit], root, check=False)


def _push_error(raw: bytes, url: str, branch: str, token: str) -> LabError:
    # --porcelain reports refused refs on stdout, transport errors on stderr
    text = raw.decode(errors="replace").replace(token, "***")
    if any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first")):
        return PushRejected(
            f"the push to branch '{branch}' was rejected: {url} has commits on it that "
            "this copy does not. Pull them first (`git pull --rebase` in a terminal), "
            "then save again, or save to a new branch"
        )
    if any(s in text for s in ("[remote rejected]", "protected branch")):
        return PushRejected(f"GitLab refused the push to '{branch}' ({_errors(text)}); the "
                            "branch may be protected: save to a new branch and open a merge "
                            "request")
    if any(s in text for s in ("Authentication failed", "could not read", "401", "403")):
        return LabError(
            f"{url} refused your GitLab token for pushing; log in to the hub again, or "
            "save a token with the write_repository scope", status=403,
            reason="gitlab-token-refused")
    if any(s in text for s in ("Could not resolve host", "Failed to connect",
                               "Connection refused", "timed out")):
        return GitLabUnavailable(f"GitLab at {url} is unreachable; try again later")
    return GitFailed(f"git push to {url} failed: {redact_urls(_errors(text))}")


def _errors(text: str) -> str:
    """git's error lines without its hints."""
    lines = [ln for ln in text.splitlines() if ln.startswith(("error:", "fatal:", "!"))]
    return " ".join(lines)[:500] or text.strip()[:500]
