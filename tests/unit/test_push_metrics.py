"""Pushing model metrics: push_metrics() in a notebook sends gauges with the server's own hub token to
the push address; the scheduler's job outcome callback pushes a job's last run, and never fails the run."""

from __future__ import annotations

import pytest

from mlops_hub.airflow.outcomes import PUSH_JOB, outcome_callback, outcome_registry
from mlops_hub.lab.errors import InvalidInput
from mlops_hub.lab.pushgateway import checked_metrics, push_metrics
from tests.support.loopback_http import LoopbackServer, read_body, reply
from tests.unit.test_job_spec import make_spec


class Gateway(LoopbackServer):
    """Records each push (method, path, Authorization, body) and answers as the Pushgateway does."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.pushes: list[tuple[str, str, str | None, str]] = []
        self.status = status
        self._serve(self._handle)

    def _handle(self, req) -> None:
        self.pushes.append((req.command, req.path, req.headers.get("Authorization"), read_body(req).decode()))
        reply(req, self.status, [], b"")


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.stop()


def test_a_notebook_pushes_its_metrics_with_its_hub_token(gateway, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("server-token\n")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("MLOPS_PUSHGATEWAY_URL", f"{gateway.url}/pushgateway")
    push_metrics({"model_accuracy": 0.93, "model_loss": 1}, job="train")
    ((method, path, auth, body),) = gateway.pushes
    assert (method, path, auth) == ("PUT", "/pushgateway/metrics/job/train", "token server-token")
    assert "model_accuracy 0.93" in body and "model_loss 1.0" in body
    assert "user" not in body  # the edge adds who pushed, from the token


@pytest.mark.parametrize(("metrics", "message"), [
    ({}, "at least one metric"),
    ({"model accuracy": 1}, "not a Prometheus metric name"),
    ({"acc": "high"}, "not a number"),
])
def test_bad_metrics_are_refused_before_any_push(metrics, message):
    with pytest.raises(InvalidInput, match=message):
        checked_metrics(metrics)


def test_a_group_name_is_one_path_segment_and_a_push_needs_the_address_and_a_token(gateway, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_PUSHGATEWAY_URL", gateway.url)
    with pytest.raises(InvalidInput, match="job 'a/user/bob'"):
        push_metrics({"acc": 1}, job="a/user/bob")
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN_FILE", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    with pytest.raises(InvalidInput, match="no hub token"):
        push_metrics({"acc": 1})
    monkeypatch.delenv("MLOPS_PUSHGATEWAY_URL")
    with pytest.raises(InvalidInput, match="MLOPS_PUSHGATEWAY_URL is not set"):
        push_metrics({"acc": 1})
    assert gateway.pushes == []


def test_a_jobs_outcome_is_pushed_to_its_own_group(gateway):
    spec = make_spec(owner="ann", role="analysts")
    outcome_callback(spec, False, gateway=gateway.url, now=lambda: 1700000000.0)(
        {"ti": type("TI", (), {"duration": 12.5})()})
    ((method, path, auth, body),) = gateway.pushes
    # POST (push-add): a failure keeps the group's last success timestamp
    assert (method, path, auth) == ("POST", f"/metrics/job/{PUSH_JOB}/dag_id/{spec.dag_id}/user/ann", None)
    assert 'mlops_job_last_run_success{environment="python",role="analysts"} 0.0' in body
    assert 'mlops_job_last_run_duration_seconds{environment="python",role="analysts"} 12.5' in body
    assert "mlops_job_last_success_timestamp_seconds" not in body


def test_a_success_sets_the_last_success_time():
    registry = outcome_registry(make_spec(role="r"), True, None, 1700000000.0)
    labels = {"role": "r", "environment": "python"}
    assert registry.get_sample_value("mlops_job_last_run_success", labels) == 1
    assert registry.get_sample_value("mlops_job_last_success_timestamp_seconds", labels) == 1700000000.0
    assert registry.get_sample_value("mlops_job_last_run_duration_seconds", labels) is None


def test_an_unreachable_gateway_never_fails_the_run(caplog):
    server = Gateway(status=500)
    try:
        outcome_callback(make_spec(), True, gateway=server.url)({})
    finally:
        server.stop()
    assert "could not push the outcome" in caplog.text
