"""A double of the platform's edge (nginx + the hub-side token check) on a loopback port.

Like the real edge it takes `Authorization: token <t>`, looks the token up (here in a fixed
table instead of asking the hub), answers 401 itself for a missing or unknown token, and
otherwise forwards the request to MLflow with `X-Mlops-User` (percent-encoded) and
`X-Mlops-Admin` overwritten (copies the client sent never pass) and the `Authorization`
header removed. It records what it saw so tests can check that every request carried a token.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from mlops_hub.names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER

from .ports import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "content-length", "host"}
_EDGE_SET = {"authorization", HEADER_MLFLOW_USER.lower(), HEADER_MLFLOW_ADMIN.lower()}


class EdgeDouble:
    def __init__(self, upstream_port: int, tokens: dict[str, tuple[str, bool]], *,
                 upstream_host_header: str | None = None) -> None:
        self.upstream_port = upstream_port
        self.tokens = tokens
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the Host MLflow sees (nginx: `proxy_set_header Host ...`); default: the client's
        self.upstream_host_header = upstream_host_header
        self.seen: list[tuple[str, str, bool]] = []  # (method, path, had a known token)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> EdgeDouble:
        edge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                who = edge.tokens.get(token) if scheme.lower() == "token" else None
                edge.seen.append((self.command, self.path, who is not None))
                if who is None:
                    self._reply(401, [("Content-Type", "text/plain")],
                                b"401: no valid JupyterHub token (Authorization: token ...)")
                    return
                name, admin = who
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP | _EDGE_SET}
                headers["Host"] = edge.upstream_host_header or self.headers.get("Host", "")
                headers[HEADER_MLFLOW_USER] = quote(name, safe="")
                headers[HEADER_MLFLOW_ADMIN] = "true" if admin else "false"
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", edge.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
                finally:
                    conn.close()
                self._reply(resp.status, out, data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class RecordingServer:
    """Answers every request with a JSON 404 and records the Authorization headers it got."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.authorizations: list[str | None] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> RecordingServer:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec.authorizations.append(self.headers.get("Authorization"))
                body = json.dumps({"error_code": "ENDPOINT_NOT_FOUND", "message": "recorder"}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
