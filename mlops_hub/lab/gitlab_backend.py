"""GitLab's REST API (v4) through python-gitlab: who the user is, projects, merge requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import gitlab
import requests

from .errors import GitLabRefused, GitLabUnavailable, LabError


@dataclass(frozen=True)
class GitLabUser:
    username: str
    name: str
    email: str


@dataclass(frozen=True)
class GitLabProject:
    id: int
    path_with_namespace: str
    web_url: str
    default_branch: str | None


@dataclass(frozen=True)
class MergeRequest:
    iid: int
    web_url: str
    created: bool  # False when an open one for the same branches already existed


_GITLAB_ERRORS = (gitlab.GitlabError, requests.exceptions.RequestException)


class GitLabBackend(Protocol):
    def current_user(self, token: str) -> GitLabUser: ...

    def project(self, token: str, path: str) -> GitLabProject: ...

    def merge_request(self, token: str, project_id: int, *, source_branch: str,
                      target_branch: str, title: str, description: str) -> MergeRequest: ...


class PythonGitLabBackend:
    """GitLabBackend talking to `url` with python-gitlab, one client per call (token varies)."""

    def __init__(self, url: str, *, timeout: float = 20, ssl_verify: bool | str = True) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.ssl_verify = ssl_verify

    def _client(self, token: str) -> gitlab.Gitlab:
        # Bearer works for OAuth tokens and personal access tokens alike
        return gitlab.Gitlab(self.url, oauth_token=token, timeout=self.timeout,
                             ssl_verify=self.ssl_verify)

    def _fail(self, exc: Exception, doing: str) -> LabError:
        if isinstance(exc, gitlab.GitlabAuthenticationError) or getattr(
            exc, "response_code", None
        ) == 401:
            return LabError(f"GitLab refused your token while {doing}; log in to the hub "
                            "again, or save a token with the api scope", status=403,
                            reason="gitlab-token-refused")
        if isinstance(exc, (requests.exceptions.RequestException, gitlab.GitlabConnectionError)):
            return GitLabUnavailable(f"GitLab at {self.url} is unreachable while {doing}; "
                                     "try again later")
        code = getattr(exc, "response_code", None)
        msg = getattr(exc, "error_message", None) or str(exc)
        if code == 404:
            return LabError(f"GitLab has no {doing.removeprefix('looking up ')} you can see "
                            f"({msg}); check the repository's remote URL and your access",
                            status=404, reason="gitlab-not-found")
        if code is not None and code >= 500:
            return GitLabUnavailable(f"GitLab failed while {doing} ({code}: {msg}); "
                                     "try again later")
        return GitLabRefused(f"GitLab refused {doing} ({code}: {msg})")

    def current_user(self, token: str) -> GitLabUser:
        gl = self._client(token)
        try:
            gl.auth()
        except _GITLAB_ERRORS as exc:
            raise self._fail(exc, "looking up your GitLab user") from None
        user = gl.user
        assert user is not None
        attrs = user.attributes
        email = attrs.get("commit_email") or attrs.get("email") or attrs.get("public_email")
        if not email:
            # GitLab's own no-reply form, used when the user hides every address
            email = f"{attrs['username']}@users.noreply.{urlsplit(self.url).hostname}"
        return GitLabUser(attrs["username"], attrs.get("name") or attrs["username"], email)

    def project(self, token: str, path: str) -> GitLabProject:
        try:
            p = self._client(token).projects.get(path)
        except _GITLAB_ERRORS as exc:
            raise self._fail(exc, f"looking up project {path}") from None
        return GitLabProject(p.id, p.path_with_namespace, p.web_url,
                             p.attributes.get("default_branch"))

    def merge_request(self, token: str, project_id: int, *, source_branch: str,
                      target_branch: str, title: str, description: str) -> MergeRequest:
        project = self._client(token).projects.get(project_id, lazy=True)
        try:
            existing = project.mergerequests.list(source_branch=source_branch,
                                                  target_branch=target_branch,
                                                  state="opened", get_all=False)
            if existing:
                return MergeRequest(existing[0].iid, existing[0].web_url, created=False)
            mr = project.mergerequests.create({
                "source_branch": source_branch, "target_branch": target_branch,
                "title": title, "description": description,
            })
        except _GITLAB_ERRORS as exc:
            raise self._fail(exc, "creating the merge request") from None
        return MergeRequest(mr.iid, mr.web_url, created=True)
