"""Releasing a model through the deployed stack's hub (POST /hub/api/mlops/models/releases, docs/models.md): a
user logs a model from the data-science environment to the stack's MLflow through the front door, with their own
token; the hub releases it as that user: the serving image goes to the stack's registry and runs by digest on the
models network, and MLflow's version records where it is served. A bad request, or another user, gets a 400
naming the field, and nothing is deployed."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import docker
import pytest
import requests

from tests.support.edge_ca import ca_cert

from .conftest import ENVIRONMENTS, REPO

pytestmark = pytest.mark.swarm

MODEL = f"s{secrets.token_hex(3)}"
SERVICE = f"model-{MODEL}"

TRAIN = f"""
import mlflow, numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
model = DummyClassifier(strategy="constant", constant=1) if "{{VERSION}}" == "2" else LogisticRegression()
mlflow.set_experiment("release-through-the-hub")
with mlflow.start_run():
    mlflow.sklearn.log_model(model.fit(X, y), name="model", registered_model_name="{MODEL}")
"""


def log_model(hub, user: str, base: str, version: str) -> None:
    """A version of the model, logged from the data-science environment through the front door with the user's
    token, as a notebook of theirs would (the run carries that image's ID and the environment)."""
    token = hub.user_headers(user, "log a model")["Authorization"].removeprefix("token ")
    client = docker.from_env()
    tracking = f"{hub.url}/mlflow"
    client.containers.run(base, ["python3", "-c", TRAIN.replace("{VERSION}", version)], network_mode="host",
                          remove=True, volumes={str(ca_cert()): {"bind": "/tmp/ca.crt", "mode": "ro"}},
                          environment={"MLFLOW_TRACKING_URI": tracking, "MLOPS_MLFLOW_TRACKING_URI": tracking,
                                       "MLFLOW_TRACKING_AUTH": "mlops-hub", "JUPYTERHUB_API_TOKEN": token,
                                       "MLFLOW_TRACKING_SERVER_CERT_PATH": "/tmp/ca.crt",
                                       "MLOPS_IMAGE_DIGEST": client.images.get(base).id,
                                       "MLOPS_ENVIRONMENT": "data-science"})


def predict(stack_settings, base: str) -> dict:
    """POST /invocations to the service by name, from a container on the stack's models network."""
    probe = ("import json, urllib.request\n"
             f"req = urllib.request.Request('http://{SERVICE}:8080/invocations',"
             " data=json.dumps({'inputs': [[0.5], [2.5]]}).encode(), headers={'Content-Type': 'application/json'})\n"
             "print(urllib.request.urlopen(req, timeout=10).read().decode())\n")
    out = docker.from_env().containers.run(base, ["python3", "-c", probe], network=f"{stack_settings.network}-models",
                                           remove=True)
    return json.loads(out.decode())


@pytest.fixture(scope="module")
def logged(hub, images):
    """alice's model, version 1."""
    alice = f"rel-alice-{secrets.token_hex(2)}"
    hub.create_user(alice, ["data-scientists"])
    base = images[ENVIRONMENTS]["data-science"]
    hub.mlflow_session(alice)  # MLflow is up
    log_model(hub, alice, base, "1")
    yield alice, base
    for service in hub.docker.services(filters={"name": SERVICE}):
        hub.docker.remove_service(service["ID"])


def release(hub, user: str, body: dict) -> requests.Response:
    return requests.post(f"{hub.url}/hub/api/mlops/models/releases", json=body,
                         headers=hub.user_headers(user, "release"), timeout=600)


def test_a_bad_release_or_another_users_model_is_a_400_and_deploys_nothing(hub, logged):
    alice, _ = logged
    bob = f"rel-bob-{secrets.token_hex(2)}"
    hub.create_user(bob, ["data-scientists"])
    for user, body, expected in [
        (alice, {"model": f"{MODEL}/1", "mem": "64G"}, "mem: from 256M to 2G (role 'data-scientists'), got '64G'"),
        (alice, {"model": f"{MODEL}/5"}, f"model: {MODEL}/5: no such registered model version or alias in MLflow"),
        (alice, {"model": f"{MODEL}/1", "image": "evil:1"}, "image: not a release setting"),
        (bob, {"model": f"{MODEL}/1"}, f"model: {MODEL}: you may not release it"),
    ]:
        r = release(hub, user, body)
        assert r.status_code == 400 and expected in r.json()["message"], (body, r.status_code, r.text)
    assert hub.docker.services(filters={"name": SERVICE}) == []


def test_a_user_releases_a_model_through_the_hub_and_it_answers_on_the_models_network(hub, stack_settings, logged):
    alice, base = logged
    r = release(hub, alice, {"model": f"{MODEL}/1", "cpu": 0.5, "mem": "512M"})
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["service"], done["version"], done["state"], done["rolled_back"]) == (SERVICE, "1", "created", False)
    registry = stack_settings.published.registry
    assert done["image"].startswith(f"{registry}/{SERVICE}:v1@sha256:"), done["image"]  # by digest, from the registry
    service = hub.docker.inspect_service(SERVICE)
    assert service["Spec"]["Labels"]["mlops-hub.released-by"] == alice
    assert service["Spec"]["Labels"]["mlops-hub.prefix"] == hub.prefix  # `mlops-hub down` removes it
    assert predict(stack_settings, base) == {"predictions": [0, 1]}
    version = hub.mlflow_session(alice).get(f"{hub.mlflow_api}/model-versions/get",
                                            params={"name": MODEL, "version": "1"}, timeout=30).json()
    tags = {t["key"]: t["value"] for t in version["model_version"]["tags"]}
    assert tags["mlops_hub.deployed_service"] == SERVICE and tags["mlops_hub.deployed_by"] == alice
    assert "deployed" in version["model_version"].get("aliases", [])


def test_a_token_without_the_release_scope_is_refused(hub, logged):
    alice, _ = logged
    r = hub.api("POST", f"/users/{alice}/tokens", json={"note": "read only", "scopes": ["read:users:name!user"]})
    assert r.status_code == 201, r.text
    refused = requests.post(f"{hub.url}/hub/api/mlops/models/releases", json={"model": f"{MODEL}/1"},
                            headers={"Authorization": f"token {r.json()['token']}"}, timeout=60)
    assert refused.status_code == 403 and "lacks the scope custom:mlops-models" in refused.json()["message"]
    anonymous = requests.post(f"{hub.url}/hub/api/mlops/models/releases", json={"model": f"{MODEL}/1"}, timeout=60)
    assert anonymous.status_code == 403


def run_release_script(hub, user: str, project, model: str,
                       tests: str | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """templates/model-repo/release.sh as a CI job runs it, in a model repository with a test of its own; and the
    token the job had."""
    token = hub.user_headers(user, "ci")["Authorization"].removeprefix("token ")
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MLOPS_MODEL": model,
           "MLOPS_HUB_URL": hub.url, "MLOPS_HUB_CA_CERT": str(ca_cert()), "MLOPS_HUB_TOKEN": token}
    if tests is not None:
        env["MLOPS_TEST_COMMAND"] = tests
    return subprocess.run(["sh", str(REPO / "templates" / "model-repo" / "release.sh")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900), token


def test_the_ci_script_runs_the_projects_tests_then_releases_the_new_version(hub, stack_settings, logged, tmp_path):
    """What Jenkins and GitLab CI run (templates/model-repo): a failing test releases nothing; passing tests release
    version 2 over version 1 (an update Swarm completes) and it answers."""
    alice, base = logged
    if not hub.docker.services(filters={"name": SERVICE}):  # this test alone: version 1 first
        assert release(hub, alice, {"model": f"{MODEL}/1"}).status_code == 201
    log_model(hub, alice, base, "2")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text("def test_the_model_project():\n    assert 1 + 1 == 2\n")
    failed, _ = run_release_script(hub, alice, tmp_path, f"{MODEL}/2", tests="false")
    assert failed.returncode != 0 and "[release] releasing" not in failed.stdout, failed.stdout
    assert hub.docker.inspect_service(SERVICE)["Spec"]["Labels"]["mlops-hub.model-version"] == "1"
    done, token = run_release_script(hub, alice, tmp_path, f"{MODEL}/2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[release] running the tests: python -m pytest -q" in done.stdout and "1 passed" in done.stdout
    assert f"{SERVICE}: version 2 answers (completed)" in done.stdout, done.stdout
    assert token not in done.stdout + done.stderr  # the CI log never shows the token
    assert predict(stack_settings, base) == {"predictions": [1, 1]}
