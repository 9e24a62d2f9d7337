"""The MLflow server as deployed (basic-auth app, mlops_hub.mlflow_server.edge_auth): who may
read, change and delete what, and whose a run is. Requests carry the headers the edge sets."""

from __future__ import annotations

import requests

from mlops_hub.names import HEADER_MLFLOW_ADMIN, HEADER_MLFLOW_USER
from tests.support.mlflow_server import MlflowServer

from .conftest import run_user


def test_requests_without_the_user_header_get_401_naming_it(edge_mlflow: MlflowServer) -> None:
    base = f"{edge_mlflow.url}/api/2.0/mlflow"
    answers = [
        requests.get(f"{base}/experiments/search", params={"max_results": 5}, timeout=60),
        requests.post(f"{base}/runs/create", json={"experiment_id": "0"}, timeout=60),
        requests.get(f"{edge_mlflow.url}/api/2.0/mlflow-artifacts/artifacts", timeout=60),
        # a client-made Basic login means nothing here
        requests.get(f"{base}/experiments/search", params={"max_results": 5}, timeout=60,
                     auth=("mlops-hub/mlflow-bootstrap-admin", "password1234")),
    ]
    for resp in answers:
        assert resp.status_code == 401, (resp.url, resp.status_code, resp.text)
        assert HEADER_MLFLOW_USER in resp.json()["message"]
    assert requests.get(f"{edge_mlflow.url}/health", timeout=60).status_code == 200


def test_malformed_edge_headers_are_refused(edge_mlflow: MlflowServer) -> None:
    url = f"{edge_mlflow.url}/api/2.0/mlflow/experiments/search"
    bad = [
        ({HEADER_MLFLOW_USER: "%zz", HEADER_MLFLOW_ADMIN: "false"}, "percent-encoded"),
        ({HEADER_MLFLOW_USER: "%FF%FE", HEADER_MLFLOW_ADMIN: "false"}, "UTF-8"),
        ({HEADER_MLFLOW_USER: "", HEADER_MLFLOW_ADMIN: "false"}, "non-empty"),
        ({HEADER_MLFLOW_USER: "eve%0Aadmin", HEADER_MLFLOW_ADMIN: "false"}, "control"),
        ({HEADER_MLFLOW_USER: "eve%20", HEADER_MLFLOW_ADMIN: "false"}, "spaces"),
        ({HEADER_MLFLOW_USER: "eve"}, HEADER_MLFLOW_ADMIN),
        ({HEADER_MLFLOW_USER: "eve", HEADER_MLFLOW_ADMIN: "yes"}, HEADER_MLFLOW_ADMIN),
    ]
    for headers, words in bad:
        resp = requests.get(url, params={"max_results": 5}, headers=headers, timeout=60)
        assert resp.status_code == 401, (headers, resp.status_code, resp.text)
        assert words in resp.json()["message"], (headers, resp.text)
    reserved = {HEADER_MLFLOW_USER: "mlops-hub%2Fmlflow-bootstrap-admin", HEADER_MLFLOW_ADMIN: "false"}
    resp = requests.get(url, params={"max_results": 5}, headers=reserved, timeout=60)
    assert resp.status_code == 403 and "reserved" in resp.json()["message"], resp.text


def test_everyone_reads_but_only_the_creator_and_admins_change_or_delete(caller) -> None:
    alice, bob, root = caller("alice"), caller("bob"), caller("root", admin=True)
    exp = alice.experiment(f"{alice.name}-exp")
    run_id = alice.run(exp)["info"]["run_id"]
    model = f"{alice.name}-model"
    alice.ok("POST", "registered-models/create", {"name": model})

    # bob reads all three
    assert bob.ok("GET", "experiments/get", {"experiment_id": exp})["experiment"]["name"] == f"{alice.name}-exp"
    assert bob.get_run(run_id)["info"]["run_id"] == run_id
    assert bob.ok("GET", "registered-models/get", {"name": model})["registered_model"]["name"] == model

    # ... and may change or delete none of them
    refused = [
        ("POST", "runs/delete", {"run_id": run_id}),
        ("POST", "runs/update", {"run_id": run_id, "run_name": "bobs"}),
        ("POST", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 0}),
        ("POST", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"}),
        ("POST", "experiments/update", {"experiment_id": exp, "new_name": "bobs"}),
        ("POST", "experiments/delete", {"experiment_id": exp}),
        ("PATCH", "registered-models/update", {"name": model, "description": "bobs"}),
        ("DELETE", "registered-models/delete", {"name": model}),
    ]
    for method, endpoint, body in refused:
        resp = bob.call(method, endpoint, body)
        assert resp.status_code == 403, (endpoint, resp.status_code, resp.text)

    # the creator may; an admin may delete what others made
    alice.ok("POST", "runs/update", {"run_id": run_id, "run_name": "alices"})
    alice.ok("PATCH", "registered-models/update", {"name": model, "description": "alice's"})
    root.ok("DELETE", "registered-models/delete", {"name": model})
    second = alice.run(exp)["info"]["run_id"]
    root.ok("POST", "runs/delete", {"run_id": second})
    alice.ok("POST", "runs/delete", {"run_id": run_id})
    alice.ok("POST", "experiments/delete", {"experiment_id": exp})
    assert bob.get_run(run_id)["info"]["lifecycle_stage"] == "deleted"


def test_the_run_user_is_the_caller_whatever_the_client_sends(caller) -> None:
    alice, bob, root = caller("alice"), caller("bob"), caller("root", admin=True)
    exp = alice.experiment(f"{alice.name}-exp")
    run = alice.run(exp, user_id=bob.name, tags=[{"key": "mlflow.user", "value": bob.name},
                                                 {"key": "note", "value": "kept"}])
    run_id = run["info"]["run_id"]
    assert run_user(run) == (alice.name, [alice.name])
    stored = bob.get_run(run_id)
    assert run_user(stored) == (alice.name, [alice.name])
    assert {"key": "note", "value": "kept"} in stored["data"]["tags"]
    # without any user from the client, too
    assert run_user(alice.run(exp)) == (alice.name, [alice.name])

    # nobody relabels the run afterwards, admins included
    for who, method, endpoint, body in [
        (alice, "POST", "runs/set-tag", {"run_id": run_id, "key": "mlflow.user", "value": bob.name}),
        (root, "POST", "runs/set-tag", {"run_id": run_id, "key": "mlflow.user", "value": root.name}),
        (alice, "POST", "runs/log-batch", {"run_id": run_id, "tags": [
            {"key": "mlflow.user", "value": bob.name}]}),
        (alice, "POST", "runs/delete-tag", {"run_id": run_id, "key": "mlflow.user"}),
    ]:
        resp = who.call(method, endpoint, body)
        assert resp.status_code == 403, (endpoint, resp.status_code, resp.text)
        assert "mlflow.user" in resp.json()["message"]
    alice.ok("POST", "runs/set-tag", {"run_id": run_id, "key": "mlflow.user", "value": alice.name})
    alice.ok("POST", "runs/set-tag", {"run_id": run_id, "key": "other", "value": "x"})
    assert run_user(bob.get_run(run_id)) == (alice.name, [alice.name])


def test_an_admin_demoted_by_the_hub_loses_admin_rights_at_once(caller) -> None:
    dave = caller("dave")
    exp = dave.experiment(f"{dave.name}-exp")
    first, second = dave.run(exp)["info"]["run_id"], dave.run(exp)["info"]["run_id"]
    carol_admin, carol = caller("carol", admin=True), caller("carol", admin=False)
    carol_admin.ok("POST", "runs/delete", {"run_id": first})
    assert carol.call("POST", "runs/delete", {"run_id": second}).status_code == 403
    # and promoted again, likewise
    carol_admin.ok("POST", "runs/delete", {"run_id": second})


def test_non_ascii_user_names(caller) -> None:
    ivan, other = caller("иван", exact=True), caller("other")
    exp = ivan.experiment("users/иван")
    run = ivan.run(exp)
    assert run_user(run) == ("иван", ["иван"])
    assert ivan.ok("GET", "experiments/get", {"experiment_id": exp})["experiment"]["name"] == "users/иван"
    resp = other.call("POST", "runs/delete", {"run_id": run["info"]["run_id"]})
    assert resp.status_code == 403


def test_user_experiment_names_are_reserved_for_their_users(caller) -> None:
    alice, bob = caller("alice"), caller("bob")
    resp = bob.call("POST", "experiments/create", {"name": f"users/{alice.name}"})
    assert resp.status_code == 403 and f"users/{bob.name}" in resp.json()["message"], resp.text
    alice.experiment(f"users/{alice.name}")


def test_the_default_experiment_is_read_only_with_a_message_saying_what_to_do(caller) -> None:
    bob, root = caller("bob"), caller("root", admin=True)
    resp = bob.call("POST", "runs/create", {"experiment_id": "0"})
    assert resp.status_code == 403
    assert "mlflow.set_experiment" in resp.json()["message"], resp.text
    assert f"users/{bob.name}" in resp.json()["message"]
    assert bob.ok("GET", "experiments/get", {"experiment_id": "0"})["experiment"]["name"] == "Default"
    root.run("0")


def test_artifacts_through_the_server_follow_the_same_rules(caller) -> None:
    alice, bob = caller("alice"), caller("bob")
    exp = alice.experiment(f"{alice.name}-exp")
    run = alice.run(exp)["info"]
    path = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    url = f"{alice.server.url}/api/2.0/mlflow-artifacts/artifacts/{path}/note.txt"
    put = requests.put(url, data=b"alice's", headers=alice.headers(), timeout=60)
    assert put.status_code == 200, put.text
    got = requests.get(url, headers=bob.headers(), timeout=60)
    assert got.status_code == 200 and got.content == b"alice's"
    for resp in (requests.put(url, data=b"bob's", headers=bob.headers(), timeout=60),
                 requests.delete(url, headers=bob.headers(), timeout=60)):
        assert resp.status_code == 403, resp.text
    assert requests.get(url, timeout=60).status_code == 401
    assert requests.get(url, headers=alice.headers(), timeout=60).content == b"alice's"
