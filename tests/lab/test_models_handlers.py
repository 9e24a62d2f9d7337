"""The panel's "Serve a model" endpoint: it asks the hub's release API as the server's owner (that API is tested
on the real stack, tests/integration/test_model_release_stack.py); a bad request is refused by name here, and a
server without a hub says so, before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest


async def post(fetch_json: Any, body: Any) -> tuple[int, Any]:
    return await fetch_json("mlops-hub", "models", "releases", method="POST", body=json.dumps(body))


@pytest.mark.parametrize("body, expected", [
    ({}, "model: the model to serve, as NAME@ALIAS or NAME/VERSION"),
    ({"model": 3}, "model: the model to serve"),
    ({"model": "churn/1", "image": "evil:1"}, "image: not a release setting; allowed: model, replicas, cpu, mem"),
    (["churn/1"], "model: the model to serve"),
])
async def test_a_bad_release_is_refused_by_name_before_the_hub_is_asked(fetch_json: Any, lab_app: Any,
                                                                         monkeypatch, body, expected) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:9/hub/api")  # nothing listens: never asked
    status, answer = await post(fetch_json, body)
    assert status == 400 and expected in answer["message"], answer


async def test_a_server_without_a_hub_says_releasing_needs_one(fetch_json: Any, lab_app: Any, monkeypatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    status, answer = await post(fetch_json, {"model": "churn/1"})
    assert (status, answer["reason"]) == (503, "no-hub")
    assert "releasing needs one" in answer["message"]


async def test_an_unreachable_hub_is_a_502_naming_it(fetch_json: Any, lab_app: Any, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:9/hub/api")
    status, answer = await post(fetch_json, {"model": "churn/1"})
    assert (status, answer["reason"]) == (502, "hub-unreachable")
    assert "cannot reach the hub at http://127.0.0.1:9" in answer["message"]
