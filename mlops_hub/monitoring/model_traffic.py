"""Served models' traffic as the front door sees it: requests, latency and errors of each `model-<name>`.

nginx logs every request to /models/<name>/... (docs/models.md) as a syslog datagram to this process on the
edge's loopback (`access_log syslog:...,tag=mlops_model model_traffic`); it counts them and serves, to
Prometheus only (the stack's metrics token),

  mlops_model_requests_total{model, path, code}
  mlops_model_request_duration_seconds{model, path}   (a histogram)

A stand-alone script: the edge image copies this file and runs it with its own Python (stdlib and
prometheus_client), without the mlops_hub package.
Run: mlops-hub-model-traffic (MLOPS_MODEL_TRAFFIC_UDP_PORT 9114, MLOPS_MODEL_TRAFFIC_PORT 9113,
MLOPS_METRICS_TOKEN_FILE /run/secrets/metrics_token).
"""

from __future__ import annotations

import hmac
import os
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

TAG = "mlops_model"
# a caller with a token can make up model names (each answered 503): past this many, they share one series
MAX_MODELS = 500
OTHER_MODEL = "_other"
# predictions: milliseconds for small models, seconds for large batches
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Request:
    model: str
    path: str
    code: str
    seconds: float


def parse(datagram: str) -> Request | None:
    """One nginx syslog line (`<pri>date mlops_model: <model> <path> <status> <request_time>`); None for
    anything else."""
    _, marker, line = datagram.partition(f"{TAG}: ")
    fields = line.split()
    if not marker or len(fields) != 4 or not fields[2].isdigit():
        return None
    try:
        seconds = float(fields[3])
    except ValueError:
        return None
    return Request(fields[0], fields[1], fields[2], seconds)


class Traffic:
    """The counters, with at most MAX_MODELS model names."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("mlops_model_requests", "Requests to a served model through the front door",
                                ["model", "path", "code"], registry=self.registry)
        self.duration = Histogram("mlops_model_request_duration_seconds", "Time the front door took to answer"
                                  " a request to a served model", ["model", "path"], buckets=BUCKETS,
                                  registry=self.registry)
        self._models: set[str] = set()
        self._lock = threading.Lock()

    def count(self, request: Request) -> None:
        with self._lock:
            if request.model not in self._models and len(self._models) >= MAX_MODELS:
                model = OTHER_MODEL
            else:
                self._models.add(request.model)
                model = request.model
        self.requests.labels(model, request.path, request.code).inc()
        self.duration.labels(model, request.path).observe(request.seconds)


def receive(traffic: Traffic, sock: socket.socket) -> None:
    while True:
        data, _ = sock.recvfrom(65535)
        request = parse(data.decode("utf-8", "replace"))
        if request is not None:
            traffic.count(request)


def metrics_server(traffic: Traffic, token: str, port: int) -> ThreadingHTTPServer:
    """/metrics with `Authorization: Bearer <the stack's metrics token>`; 401 to anyone else."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            given = self.headers.get("Authorization", "")
            if self.path.split("?")[0] != "/metrics":
                return self._send(404, b"not found\n", "text/plain")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return self._send(401, b"the stack's metrics token is needed\n", "text/plain")
            self._send(200, generate_latest(traffic.registry), CONTENT_TYPE_LATEST)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # every scrape would be a line in the edge's log
            pass

    return ThreadingHTTPServer(("0.0.0.0", port), Handler)


def main() -> None:
    token_file = Path(os.environ.get("MLOPS_METRICS_TOKEN_FILE", "/run/secrets/metrics_token"))
    if not token_file.is_file() or not token_file.read_text().strip():
        sys.exit(f"mlops-hub-model-traffic: {token_file} is missing: deploy the stack with mlops-hub up")
    traffic = Traffic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(os.environ.get("MLOPS_MODEL_TRAFFIC_UDP_PORT", "9114"))))
    threading.Thread(target=receive, args=(traffic, sock), daemon=True).start()
    port = int(os.environ.get("MLOPS_MODEL_TRAFFIC_PORT", "9113"))
    server = metrics_server(traffic, token_file.read_text().strip(), port)
    print(f"mlops-hub-model-traffic: served models' traffic on :{port}/metrics", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
