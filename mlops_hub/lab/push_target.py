"""Where `git push <remote>` would really send a repository, and whether the token may go.

git decides that from `remote.<name>.pushurl` (every one of them), else `remote.<name>.url`,
each rewritten by `url.<base>.pushInsteadOf` / `insteadOf` - all of which anyone who can
write the repository (a teammate, in a shared folder) can set, also through `include.path`.
`git remote get-url --push --all` applies exactly those rules, so its answer is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import InvalidInput
from .redact import strip_userinfo
from .safegit import run_git

_DEFAULT_PORTS = {"http": 80, "https": 443}
# GitLab namespaces and projects: letters (any script), digits, '_', '-', '.', '%' escapes
_PATH_OK = re.compile(r"^(/[\w.%~+-]+){2,}/?\Z")


@dataclass(frozen=True)
class PushTarget:
    url: str  # the URL the push uses: the configured GitLab's origin + the project's path
    project: str  # group/project on that GitLab


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return parts.scheme, (parts.hostname or ""), port


def _netloc(url: str) -> str:
    """host[:port] of `url` without userinfo, as written (for messages and the push URL)."""
    return urlsplit(strip_userinfo(url)).netloc


def on_gitlab(url: str, gitlab_url: str, *, why: str = "") -> PushTarget:
    """The push target for `url` if it is on `gitlab_url` (same scheme, host and port);
    else InvalidInput naming the refused host and the allowed one."""
    gitlab_url = gitlab_url.rstrip("/")
    g = urlsplit(gitlab_url)
    if g.scheme not in _DEFAULT_PORTS or not g.hostname:
        raise InvalidInput(f"MLOPS_GITLAB_URL {strip_userinfo(gitlab_url)!r} is not an http(s) "
                           "URL with a host; ask your platform admin")
    shown = strip_userinfo(url)
    r = urlsplit(url)
    if r.scheme not in _DEFAULT_PORTS:
        raise InvalidInput(f"the repository pushes to {shown}{why}, which is not an http(s) "
                           f"URL; the extension pushes over HTTP(S) to {gitlab_url} only. "
                           "Change it with `git remote set-url origin https://...`")
    if _origin(url) != _origin(gitlab_url):
        raise InvalidInput(
            f"the repository pushes to host {_netloc(url)} ({shown}{why}), which is not the "
            f"configured GitLab {g.netloc} ({gitlab_url}); your GitLab token is only sent "
            "to that GitLab. Check `git remote -v` and `git config --show-origin --get-regexp "
            "'^(remote|url|include)'`: anyone who can write this folder can change them")
    if r.query or r.fragment or not _PATH_OK.match(r.path) or "/../" in r.path + "/":
        raise InvalidInput(f"cannot tell the GitLab project from the push URL {shown}{why}")
    prefix = g.path.rstrip("/")
    path = r.path
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix):]
    project = path.strip("/").removesuffix(".git")
    if project.count("/") < 1:
        raise InvalidInput(f"cannot tell the GitLab project from the push URL {shown}{why}")
    # rebuilt from the configured origin: no parser quirk in the remote URL can pick the host
    return PushTarget(urlunsplit((g.scheme, _netloc(gitlab_url), r.path, "", "")), project)


def _config_values(root: Path, key: str) -> list[str]:
    proc = run_git(["config", "--get-all", key], root, check=False)
    return proc.stdout.decode(errors="replace").splitlines()


def push_target(root: Path, remote: str, gitlab_url: str) -> PushTarget:
    """Where `git push <remote>` in `root` would go, checked against `gitlab_url`."""
    proc = run_git(["remote", "get-url", "--push", "--all", remote], root, check=False)
    urls = proc.stdout.decode(errors="replace").splitlines()
    if proc.returncode != 0 or not urls:
        raise InvalidInput(f"the repository {root.name} has no remote '{remote}' to push to; "
                           "add the GitLab project with `git remote add origin https://...`")
    pushurls = _config_values(root, f"remote.{remote}.pushurl")
    raw = pushurls or _config_values(root, f"remote.{remote}.url")
    targets = []
    for i, url in enumerate(urls):
        source = raw[i] if i < len(raw) else ""
        why = (f", set by remote.{remote}.pushurl" if pushurls else "") + (
            f", rewritten from {strip_userinfo(source)} by a url.*.pushInsteadOf or "
            "url.*.insteadOf rule" if source and source != url else "")
        # each of these URLs would be sent the token: one foreign URL refuses the save
        targets.append(on_gitlab(url, gitlab_url, why=why))
    if len({t.url for t in targets}) > 1:
        raise InvalidInput(f"remote '{remote}' pushes to {len(targets)} URLs "
                           f"({', '.join(t.url for t in targets)}); the extension pushes to "
                           f"exactly one: keep one remote.{remote}.pushurl")
    return targets[0]
