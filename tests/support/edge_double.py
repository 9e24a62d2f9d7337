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
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

from mlops_hub.names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER

from .loopback_http import LoopbackServer, read_body, reply

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "content-length", "host"}
_EDGE_SET = {"authorization", HEADER_MLFLOW_USER.lower(), HEADER_MLFLOW_ADMIN.lower()}


class EdgeDouble(LoopbackServer):
    def __init__(self, upstream_port: int, tokens: dict[str, tuple[str, bool]], *,
                 upstream_host_header: str | None = None) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.tokens = tokens
        # the Host MLflow sees (nginx: `proxy_set_header Host ...`); default: the client's
        self.upstream_host_header = upstream_host_header
        self.seen: list[tuple[str, str, bool]] = []  # (method, path, had a known token)

    def start(self) -> EdgeDouble:
        self._serve(self._handle)
        return self

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        body = read_body(req)
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        who = self.tokens.get(token) if scheme.lower() == "token" else None
        self.seen.append((req.command, req.path, who is not None))
        if who is None:
            reply(req, 401, [("Content-Type", "text/plain")],
                  b"401: no valid JupyterHub token (Authorization: token ...)")
            return
        name, admin = who
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP | _EDGE_SET}
        headers["Host"] = self.upstream_host_header or req.headers.get("Host", "")
        headers[HEADER_MLFLOW_USER] = quote(name, safe="")
        headers[HEADER_MLFLOW_ADMIN] = "true" if admin else "false"
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        try:
            conn.request(req.command, req.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            conn.close()
        reply(req, resp.status, out, data)


class RecordingServer(LoopbackServer):
    """Answers every request with a JSON 404 and records the Authorization headers it got."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: list[str | None] = []

    def start(self) -> RecordingServer:
        self._serve(self._handle)
        return self

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        read_body(req)
        self.authorizations.append(req.headers.get("Authorization"))
        body = json.dumps({"error_code": "ENDPOINT_NOT_FOUND", "message": "recorder"}).encode()
        reply(req, 404, [("Content-Type", "application/json")], body)
