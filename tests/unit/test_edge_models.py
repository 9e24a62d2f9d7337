"""The front door's served-models location (images/edge/nginx.conf.template): which paths reach a model, that the
caller's token and cookies never do, that a request is retried on another replica (its body kept for that), and
that the model's name in the path is the one nginx's check is asked about. Run end to end in
tests/integration/test_model_release_stack.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_hub.hub.edge_check import model_in_uri
from mlops_hub.policy.model_release import DRAIN_SECONDS, MODEL_NAME_RE

TEMPLATE = Path(__file__).resolve().parents[2] / "images" / "edge" / "nginx.conf.template"


def models_location() -> tuple[re.Pattern, list[str]]:
    """The regex of the location that proxies to model services, and its directives."""
    text = TEMPLATE.read_text()
    (regex, body), = [(r, b) for r, b in re.findall(r'location ~ "([^"]+)" \{(.*?)\n        \}', text, re.S)
                      if "model-$model_name" in b]
    return re.compile(regex.replace("(?<", "(?P<")), [line.strip() for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("path, model", [
    ("/models/churn/invocations", "churn"),
    ("/models/churn-2/ping", "churn-2"),
    ("/models/c/version", "c"),
    ("/models/churn/invocations/x", None),
    ("/models/Churn/invocations", None),
    ("/models/-churn/invocations", None),
    ("/models/churn/metrics", None),  # only the scoring server's own paths
    ("/models/../hub/invocations", None),
])
def test_only_a_models_scoring_paths_reach_it_and_its_name_is_the_one_checked(path, model):
    regex, _ = models_location()
    match = regex.match(path)
    assert (match and match.group("model_name")) == model
    if model:
        assert MODEL_NAME_RE.match(model) and model_in_uri(path) == model  # the check names the same model


def test_the_callers_token_and_cookies_never_reach_the_model_and_a_failed_replica_is_retried():
    _, directives = models_location()
    assert "auth_request /_edge/check/models;" in directives
    assert 'proxy_set_header Authorization "";' in directives and 'proxy_set_header Cookie "";' in directives
    assert "proxy_request_buffering on;" in directives  # a prediction's body can be sent again
    assert any(d.startswith("proxy_next_upstream error timeout") and "non_idempotent" in d for d in directives)
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in directives  # a stopping replica is dropped within a second
    assert DRAIN_SECONDS > 1  # ... while it still answers
