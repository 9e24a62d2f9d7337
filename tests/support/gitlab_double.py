"""A double of GitLab's REST API v4, for the few requests the lab extension makes.

Follows the documented requests and responses: `GET /user`, `GET /projects/:id` (id or
URL-encoded path), `GET /projects/:id/merge_requests` (filters source_branch,
target_branch, state) and `POST /projects/:id/merge_requests` (201; 409 with GitLab's
message when an open MR for the same branches exists). Auth: `Authorization: Bearer` or
`PRIVATE-TOKEN`; anything else gets GitLab's `401 Unauthorized` body.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote


@dataclass
class GitLabApiDouble:
    token: str
    base_url: str = ""  # set once the serving origin is known
    user: dict[str, Any] = field(default_factory=lambda: {
        "id": 7, "username": "ada", "name": "Ada Lovelace", "email": "ada@example.org",
        "commit_email": "ada@example.org", "state": "active",
    })
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_project(self, path: str, *, default_branch: str = "main") -> dict[str, Any]:
        project = {
            "id": 100 + len(self.projects), "path_with_namespace": path,
            "name": path.rsplit("/", 1)[-1], "default_branch": default_branch,
            "web_url": f"{self.base_url}/{path}",
            "http_url_to_repo": f"{self.base_url}/{path}.git",
        }
        self.projects[path] = project
        return project

    @staticmethod
    def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _project(self, ref: str) -> dict[str, Any] | None:
        ref = unquote(ref)
        for p in self.projects.values():
            if ref in (str(p["id"]), p["path_with_namespace"]):
                return p
        return None

    def __call__(self, method: str, path: str, query: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append((method, path))
            h = {k.lower(): v for k, v in headers.items()}
            given = h.get("private-token") or h.get("authorization", "").removeprefix("Bearer ")
            if given != self.token:
                return self._json(401, {"message": "401 Unauthorized"})
            # path keeps %2F encoded so a namespaced project id stays one segment
            segs = path.removeprefix("/api/v4/").split("/")
            if method == "GET" and segs == ["user"]:
                return self._json(200, self.user)
            if len(segs) >= 2 and segs[0] == "projects":
                project = self._project(segs[1])
                if project is None:
                    return self._json(404, {"message": "404 Project Not Found"})
                if len(segs) == 2 and method == "GET":
                    return self._json(200, project)
                if segs[2:] == ["merge_requests"]:
                    return self._merge_requests(method, project, query, body)
            return self._json(404, {"error": "404 Not Found"})

    def _merge_requests(self, method: str, project: dict[str, Any], query: str, body: bytes
                        ) -> tuple[int, dict[str, str], bytes]:
        mine = [m for m in self.merge_requests if m["project_id"] == project["id"]]
        if method == "GET":
            q = {k: v[0] for k, v in parse_qs(query).items()}
            found = [m for m in mine if all(
                m.get(k) == q[k] for k in ("source_branch", "target_branch", "state") if k in q)]
            return self._json(200, found)
        if method != "POST":
            return self._json(405, {"message": "405 Method Not Allowed"})
        data = json.loads(body or b"{}")
        missing = [k for k in ("source_branch", "target_branch", "title") if not data.get(k)]
        if missing:
            return self._json(400, {"error": f"{', '.join(missing)} is missing"})
        for m in mine:
            if (m["state"] == "opened" and m["source_branch"] == data["source_branch"]
                    and m["target_branch"] == data["target_branch"]):
                return self._json(409, {"message": [
                    ("Another open merge request already exists for this source branch: "
                    f"!{m['iid']}")]})
        iid = len(mine) + 1
        mr = {
            "id": 5000 + len(self.merge_requests), "iid": iid, "project_id": project["id"],
            "title": data["title"], "description": data.get("description", ""),
            "state": "opened", "source_branch": data["source_branch"],
            "target_branch": data["target_branch"],
            "web_url": f"{project['web_url']}/-/merge_requests/{iid}",
        }
        self.merge_requests.append(mr)
        return self._json(201, mr)
