"""A real git server over HTTP: `git http-backend` (CGI) behind a small threaded web server.

Every request needs HTTP basic auth with the configured password (any user name), like
GitLab with a token. Paths under `/api/v4/` can be routed to an API double, so one origin
serves both git and the GitLab REST API, as GitLab itself does.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .loopback_http import reply

# (method, path, query, headers, body) -> (status, headers, body)
ApiHandler = Callable[[str, str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class GitHttpServer:
    def __init__(self, password: str, api: ApiHandler | None = None, root: Path | None = None,
                 public_url: str | None = None) -> None:
        self.password = password
        self.api = api
        self.root = root or Path(tempfile.mkdtemp(prefix="mlops-hub-git-"))
        # how clients reach this server when it runs as a Swarm service (not on loopback)
        self.public_url = public_url
        self.auth_attempts: list[tuple[str, bool]] = []  # (user name, accepted)
        # every Authorization header sent, raw, before any check: what a hostile server keeps
        self.authorizations: list[str] = []
        self.requests: list[str] = []  # request lines' targets, in order
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def create_repo(self, path: str, *, default_branch: str = "main",
                    seed_files: dict[str, str] | None = None) -> str:
        """Create a bare repository at `path` (e.g. `team/project.git`), optionally with a
        first commit; returns its clone URL."""
        bare = self.root / path
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", default_branch, str(bare)],
                       check=True)
        if seed_files:
            with tempfile.TemporaryDirectory() as work:
                subprocess.run(["git", "init", "-q", "-b", default_branch, work], check=True)
                for name, text in seed_files.items():
                    (Path(work) / name).parent.mkdir(parents=True, exist_ok=True)
                    (Path(work) / name).write_text(text)
                env = dict(os.environ, GIT_AUTHOR_NAME="seed", GIT_AUTHOR_EMAIL="seed@example.org",
                           GIT_COMMITTER_NAME="seed", GIT_COMMITTER_EMAIL="seed@example.org")
                subprocess.run(["git", "-C", work, "add", "-A"], check=True)
                subprocess.run(["git", "-C", work, "commit", "-q", "-m", "seed"], check=True,
                               env=env)
                subprocess.run(["git", "-C", work, "push", "-q", str(bare),
                                f"{default_branch}:{default_branch}"], check=True)
        return f"{self.url}/{path}"

    def bare_repo(self, path: str) -> Path:
        return self.root / path

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GitHttpServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet; attempts are recorded instead

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                outer.requests.append(self.path)
                if self.headers.get("Authorization") is not None:
                    outer.authorizations.append(self.headers["Authorization"])
                if parts.path.startswith("/api/v4/") and outer.api is not None:
                    status, headers, payload = outer.api(
                        self.command, parts.path, parts.query, dict(self.headers), body)
                    self._reply(status, headers, payload)
                    return
                user = self._basic_auth()
                if user is None:
                    self._reply(401, {"WWW-Authenticate": 'Basic realm="git"'}, b"")
                    return
                self._cgi(parts.path, parts.query, body, user)

            def _basic_auth(self) -> str | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                ok = password == outer.password
                outer.auth_attempts.append((user, ok))
                return user if ok else None

            def _cgi(self, path: str, query: str, body: bytes, user: str) -> None:
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(outer.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REMOTE_USER": user,  # http-backend allows receive-pack for known users
                    "REMOTE_ADDR": self.client_address[0],
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GATEWAY_INTERFACE": "CGI/1.1",
                    "SERVER_PROTOCOL": "HTTP/1.1",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                proc = subprocess.run(["git", "http-backend"], input=body, env=env,
                                      capture_output=True, check=False)
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = proc.stdout.partition(b"\n\n")
                status, headers = 200, {}
                for line in head.decode("latin-1").splitlines():
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers[key.strip()] = value.strip()
                self._reply(status, headers, payload)

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                reply(self, status, list(headers.items()), payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
