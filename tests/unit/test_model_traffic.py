"""The served models' traffic counter of the front door (mlops_hub/monitoring/model_traffic.py): nginx's syslog
lines become per-model request counts and latencies, at most MAX_MODELS model names, served to Prometheus with
the stack's metrics token only. Run for real: a UDP socket and the HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time

import requests

from mlops_hub.monitoring import model_traffic
from mlops_hub.monitoring.model_traffic import OTHER_MODEL, Request, Traffic, metrics_server, parse, receive


def test_a_syslog_line_of_nginx_is_one_request():
    line = "<190>Dec  3 08:40:01 mlops_model: churn invocations 200 0.004"
    assert parse(line) == Request("churn", "invocations", "200", 0.004)
    assert parse("<190>Dec  3 08:40:01 other: churn invocations 200 0.004") is None
    assert parse("<190>Dec  3 08:40:01 mlops_model: churn invocations") is None
    assert parse("<190>Dec  3 08:40:01 mlops_model: churn invocations abc 0.1") is None
    assert parse("<190>Dec  3 08:40:01 mlops_model: churn invocations 200 -") is None


def test_made_up_model_names_past_the_cap_share_one_series(monkeypatch):
    monkeypatch.setattr(model_traffic, "MAX_MODELS", 2)
    traffic = Traffic()
    for name in ("a", "b", "c", "d", "a"):
        traffic.count(Request(name, "invocations", "503", 0.001))
    value = traffic.registry.get_sample_value
    assert value("mlops_model_requests_total", {"model": "a", "path": "invocations", "code": "503"}) == 2
    assert value("mlops_model_requests_total", {"model": OTHER_MODEL, "path": "invocations", "code": "503"}) == 2
    assert value("mlops_model_requests_total", {"model": "c", "path": "invocations", "code": "503"}) is None


def test_datagrams_are_counted_and_served_with_the_metrics_token_only():
    traffic = Traffic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    threading.Thread(target=receive, args=(traffic, sock), daemon=True).start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for status, seconds in (("200", "0.003"), ("200", "0.020"), ("500", "0.100")):
        sender.sendto(f"<190>Dec  3 08:40:01 mlops_model: churn invocations {status} {seconds}".encode(),
                      sock.getsockname())
    server = metrics_server(traffic, "the-token", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        while traffic.registry.get_sample_value("mlops_model_request_duration_seconds_count",
                                                {"model": "churn", "path": "invocations"}) != 3:
            time.sleep(0.05)
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        answer = requests.get(url, headers={"Authorization": "Bearer the-token"}, timeout=10)
        assert answer.status_code == 200
        assert 'mlops_model_requests_total{code="200",model="churn",path="invocations"} 2.0' in answer.text
        assert 'mlops_model_requests_total{code="500",model="churn",path="invocations"} 1.0' in answer.text
        assert 'mlops_model_request_duration_seconds_bucket{le="0.005",model="churn",path="invocations"} 1.0' \
            in answer.text
    finally:
        server.shutdown()
