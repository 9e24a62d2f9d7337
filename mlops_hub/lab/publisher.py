"""Save a notebook to GitLab in one action: commit, push, and optionally a merge request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import InvalidInput, TokenMissing
from .git_publish import Author, commit_file
from .git_push import push_branch
from .gitinfo import remote_name, repo_root
from .gitlab_backend import GitLabBackend
from .push_target import push_target
from .tokens import TokenSource


@dataclass
class SaveRequest:
    """What the user asked for; built from the request body by `from_json`."""

    message: str
    branch: str | None = None
    strip_outputs: bool = False
    merge_request: bool = False
    target_branch: str | None = None
    title: str | None = None
    description: str = ""

    @classmethod
    def from_json(cls, body: Any) -> SaveRequest:
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object")
        allowed = {"path", "message", "branch", "strip_outputs", "merge_request",
                   "target_branch", "title", "description"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidInput(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("message", "branch", "target_branch", "title", "description"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise InvalidInput(f"'{key}' must be a string")
        for key in ("strip_outputs", "merge_request"):
            if key in body and not isinstance(body[key], bool):
                raise InvalidInput(f"'{key}' must be true or false")
        if not (body.get("message") or "").strip():
            raise InvalidInput("'message' is required: a commit message saying what changed")
        return cls(
            message=body["message"],
            branch=body.get("branch") or None,
            strip_outputs=body.get("strip_outputs", False),
            merge_request=body.get("merge_request", False),
            target_branch=body.get("target_branch") or None,
            title=body.get("title") or None,
            description=body.get("description") or "",
        )


class NotebookPublisher:
    """Runs the save: token -> author -> commit -> push -> merge request."""

    def __init__(self, gitlab_url: str, gitlab: GitLabBackend, tokens: TokenSource, *,
                 push_timeout: float = 120) -> None:
        self.gitlab_url = gitlab_url.rstrip("/")
        self.gitlab = gitlab
        self.tokens = tokens
        self.push_timeout = push_timeout

    async def save(self, user: str, notebook: Path, req: SaveRequest) -> dict[str, Any]:
        if not self.gitlab_url:
            raise InvalidInput("no GitLab is configured for this server (MLOPS_GITLAB_URL)")
        if not notebook.is_file():
            raise InvalidInput(f"{notebook.name} does not exist or is not a file")
        root = await asyncio.to_thread(repo_root, notebook)
        remote = await asyncio.to_thread(remote_name, root)
        if remote is None:
            raise InvalidInput(f"the repository {root.name} has no remote; add the GitLab "
                               "project with `git remote add origin https://...`")
        # where `git push` would really go (pushurl, insteadOf...): refused before the token
        # is even fetched if that is not the configured GitLab
        project = (await asyncio.to_thread(push_target, root, remote, self.gitlab_url)).project

        token = await self.tokens.token_for(user)
        if not token:
            raise TokenMissing(
                "no GitLab token for you: log in to the hub with GitLab, or save a personal "
                "access token (scopes api, write_repository) with PUT /mlops-hub/gitlab/token"
            )
        who = await asyncio.to_thread(self.gitlab.current_user, token)
        commit = await asyncio.to_thread(
            commit_file, notebook, message=req.message, author=Author(who.name, who.email),
            branch=req.branch, strip=req.strip_outputs, remote=remote,
        )
        await asyncio.to_thread(push_branch, root, remote, commit.branch, token,
                                gitlab_url=self.gitlab_url, timeout=self.push_timeout)
        info = await asyncio.to_thread(self.gitlab.project, token, project)
        result: dict[str, Any] = {
            "project": info.path_with_namespace,
            "path": commit.relpath,
            "branch": commit.branch,
            "commit": commit.commit,
            "committed": commit.created,
            "author": {"name": who.name, "email": who.email},
            "commit_url": f"{info.web_url}/-/commit/{commit.commit}",
            "branch_url": f"{info.web_url}/-/tree/{quote(commit.branch, safe='/')}",
            "file_url": f"{info.web_url}/-/blob/{commit.commit}/{quote(commit.relpath)}",
            "merge_request": None,
        }
        if req.merge_request:
            target = req.target_branch or info.default_branch
            if not target:
                raise InvalidInput("the project has no default branch; give 'target_branch'")
            if target == commit.branch:
                raise InvalidInput(f"'target_branch' {target!r} is the branch you saved to; "
                                   "save to another branch to open a merge request")
            mr = await asyncio.to_thread(
                self.gitlab.merge_request, token, info.id, source_branch=commit.branch,
                target_branch=target, title=req.title or req.message.splitlines()[0],
                description=req.description,
            )
            result["merge_request"] = {"iid": mr.iid, "url": mr.web_url, "created": mr.created}
        return result
