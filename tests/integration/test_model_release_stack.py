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
import threading
import time
from pathlib import Path

import docker
import pytest
import requests

from tests.support.edge_ca import ca_cert

from .conftest import ENVIRONMENTS, REPO
from .test_monitoring import SERVED_MODELS_BOARD, Prometheus, dashboard_queries, running_container

pytestmark = pytest.mark.swarm

MODEL = f"s{secrets.token_hex(3)}"
SERVICE = f"model-{MODEL}"

TRAIN = """
import mlflow, numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
model = DummyClassifier(strategy="constant", constant=1) if "{KIND}" == "constant" else LogisticRegression()
mlflow.set_experiment("release-{MODEL}-{USER}")  # its own: an experiment is its creator's
with mlflow.start_run():
    if "{KIND}" == "broken":  # logged fine, but its server cannot load it: it never passes its health check
        class Broken(mlflow.pyfunc.PythonModel):
            def load_context(self, context):
                raise RuntimeError("this version cannot load")
            def predict(self, context, model_input):
                return model_input
        info = mlflow.pyfunc.log_model(name="model", python_model=Broken(), registered_model_name="{MODEL}")
    else:
        info = mlflow.sklearn.log_model(model.fit(X, y), name="model", registered_model_name="{MODEL}")
print("VERSION", info.registered_model_version)
"""


def log_model(hub, user: str, base: str, kind: str = "logistic", model: str = MODEL) -> str:
    """A version of the model (kind: logistic, constant or broken), logged from the data-science environment
    through the front door with the user's token, as a notebook of theirs would (the run carries that image's ID
    and the environment); its version number."""
    token = hub.user_headers(user, "log a model")["Authorization"].removeprefix("token ")
    client = docker.from_env()
    tracking = f"{hub.url}/mlflow"
    out = client.containers.run(base, ["python3", "-c", TRAIN.replace("{KIND}", kind).replace("{MODEL}", model)
                                                               .replace("{USER}", user)],
                                network_mode="host",
                          remove=True, volumes={str(ca_cert()): {"bind": "/tmp/ca.crt", "mode": "ro"}},
                          environment={"MLFLOW_TRACKING_URI": tracking, "MLOPS_MLFLOW_TRACKING_URI": tracking,
                                       "MLFLOW_TRACKING_AUTH": "mlops-hub", "JUPYTERHUB_API_TOKEN": token,
                                       "MLFLOW_TRACKING_SERVER_CERT_PATH": "/tmp/ca.crt",
                                       "MLOPS_IMAGE_DIGEST": client.images.get(base).id,
                                       "MLOPS_ENVIRONMENT": "data-science"})
    return out.decode().split("VERSION ")[-1].strip()


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
    assert log_model(hub, alice, base) == "1"
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
    version = log_model(hub, alice, base, "constant")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text("def test_the_model_project():\n    assert 1 + 1 == 2\n")
    before = hub.docker.inspect_service(SERVICE)["Spec"]["Labels"]["mlops-hub.model-version"]
    failed, _ = run_release_script(hub, alice, tmp_path, f"{MODEL}/{version}", tests="false")
    assert failed.returncode != 0 and "[release] releasing" not in failed.stdout, failed.stdout
    assert hub.docker.inspect_service(SERVICE)["Spec"]["Labels"]["mlops-hub.model-version"] == before
    done, token = run_release_script(hub, alice, tmp_path, f"{MODEL}/{version}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[release] running the tests: python -m pytest -q" in done.stdout and "1 passed" in done.stdout
    assert f"{SERVICE}: version {version} answers (completed)" in done.stdout, done.stdout
    assert token not in done.stdout + done.stderr  # the CI log never shows the token
    assert predict(stack_settings, base) == {"predictions": [1, 1]}


# ---- through the front door: /models/<name>/invocations with a token scoped to the model ------------------------

INPUTS = {"inputs": [[0.5], [2.5]]}


def model_token(hub, user: str, *services: str) -> str:
    """A token of `user` that may call only `services` (what a client application of the model is given)."""
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "model client", "scopes": [
        f"access:services!service={s}" for s in services]})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def call(hub, model: str, token: str | None, session: requests.Session | None = None) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return (session or requests).post(f"{hub.url}/models/{model}/invocations", json=INPUTS, headers=headers,
                                      verify=str(ca_cert()), timeout=60)


def served(hub, alice: str) -> None:
    if not hub.docker.services(filters={"name": SERVICE}):  # this test alone: version 1 first
        assert release(hub, alice, {"model": f"{MODEL}/1"}).status_code == 201


def test_a_model_answers_through_the_front_door_to_a_token_scoped_to_it_and_no_one_else(hub, logged):
    alice, _ = logged
    served(hub, alice)
    token = model_token(hub, alice, SERVICE)
    answer = call(hub, MODEL, token)
    assert answer.status_code == 200 and set(answer.json()) == {"predictions"}, answer.text
    refused = call(hub, MODEL, None)
    assert refused.status_code == 401 and refused.json()["error_code"] == "UNAUTHENTICATED", refused.text
    other = call(hub, MODEL, model_token(hub, alice, "model-another"))  # a token for another model
    assert other.status_code == 403, other.text
    release_only = hub.api("POST", f"/users/{alice}/tokens", json={"scopes": ["custom:mlops-models"]}).json()
    assert call(hub, MODEL, release_only["token"]).status_code == 403
    # a model that is not served: its callers hear so, and nothing else is reached by that name
    assert call(hub, "not-served", model_token(hub, alice, "model-not-served")).status_code == 503
    # the model is a JupyterHub service, named as the scope names it, with what it serves
    listed = hub.api("GET", f"/services/{SERVICE}")
    assert listed.status_code == 200, listed.text
    assert listed.json()["info"]["released_by"] == alice and listed.json()["info"]["path"].endswith("/invocations")


class Steady:
    """A client calling the model through the front door without a pause, in a thread, counting every answer."""

    def __init__(self, hub, token: str) -> None:
        self.hub, self.token = hub, token
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.predictions: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                r = call(self.hub, MODEL, self.token, session)
            except requests.RequestException as e:
                self.failures.append(f"{type(e).__name__}: {e}")
                continue
            self.answers.append(r.status_code)
            if r.status_code != 200:
                self.failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                self.predictions.add(json.dumps(r.json()["predictions"]))

    def __enter__(self) -> Steady:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def test_no_request_fails_while_a_broken_version_rolls_back_and_a_good_one_replaces_it(hub, logged):
    """The issue's steady client loop, through nginx: a version that cannot load is rolled back by Swarm while the
    old one answers every request; a good version then takes over without a failed request."""
    alice, base = logged
    served(hub, alice)
    broken, good = log_model(hub, alice, base, "broken"), log_model(hub, alice, base, "logistic")
    with Steady(hub, model_token(hub, alice, SERVICE)) as client:
        rolled_back = release(hub, alice, {"model": f"{MODEL}/{broken}"})
        assert rolled_back.status_code == 409 and rolled_back.json()["rolled_back"], rolled_back.text
        during_rollback = len(client.answers)
        updated = release(hub, alice, {"model": f"{MODEL}/{good}"})
        assert updated.status_code == 201 and updated.json()["state"] == "completed", updated.text
        time.sleep(6)  # past the old replica's drain: it has stopped, and the new one answers alone
    assert client.failures == [], client.failures[:5]
    assert during_rollback > 20 and len(client.answers) > during_rollback + 20, len(client.answers)
    assert hub.docker.inspect_service(SERVICE)["Spec"]["Labels"]["mlops-hub.model-version"] == good
    assert call(hub, MODEL, model_token(hub, alice, SERVICE)).json() == {"predictions": [0, 1]}


def test_each_models_requests_latency_and_errors_are_in_prometheus_and_its_dashboard(hub, logged):
    """The front door counts every request to a model; Prometheus scrapes the count; every query of the served
    models' dashboard (config/grafana/dashboards/model-services.json) returns this model's series."""
    alice, _ = logged
    served(hub, alice)
    token = model_token(hub, alice, SERVICE)
    session = requests.Session()
    for _ in range(20):
        assert call(hub, MODEL, token, session).status_code == 200
    prometheus = Prometheus(hub, running_container(hub, f"{hub.stack}_prometheus"))
    found = prometheus.wait_for(f'mlops_model_requests_total{{model="{MODEL}", path="invocations", code="200"}}'
                                f' >= 20', "the model's requests")
    assert found[0]["metric"]["job"] == "models", found
    empty = []
    for board, title, expr in dashboard_queries([SERVED_MODELS_BOARD]):
        try:
            prometheus.wait_for(expr.replace("$model", MODEL), f"{board}: {title}", deadline=90)
        except AssertionError as e:
            empty.append(str(e).split("; targets")[0])
    assert not empty, "\n".join(empty)


def test_a_served_model_holds_room_in_its_team_pool(hub, images):
    """A model service counts against the releasing user's team pool: a release that would not fit is refused
    (403, nothing deployed); one that fits holds its room, so a server that no longer fits beside it is refused."""
    team = f"rel-pool-{secrets.token_hex(2)}"
    carol = f"{team}-carol"
    hub.create_user(carol, [team])  # the team's group: roles are groups
    r = hub.api("POST", f"/mlops/quotas/{team}", json={"max_cpu": 0.5, "max_mem": "1G", "max_servers": 2,
                                                       "environments": ["python"], "pool_cpu": 0.75})
    assert r.status_code == 201, r.text
    model = f"p{secrets.token_hex(3)}"
    try:
        hub.mlflow_session(carol)
        log_model(hub, carol, images[ENVIRONMENTS]["data-science"], model=model)
        too_big = release(hub, carol, {"model": f"{model}/1", "replicas": 2, "cpu": 0.5})
        assert too_big.status_code == 403 and f"Team {team} uses 0 of 0.75 CPUs" in too_big.json()["message"], \
            too_big.text
        assert hub.docker.services(filters={"name": f"model-{model}"}) == []
        assert release(hub, carol, {"model": f"{model}/1", "cpu": 0.5}).status_code == 201
        again = release(hub, carol, {"model": f"{model}/1", "cpu": 0.5})  # its own room is not counted twice
        assert again.status_code == 201, again.text
        spawn = hub.spawn(carol, {"environment": "python", "cpu_limit": 0.5, "mem_limit": "512M"})
        assert spawn.status_code == 403 and f"Team {team} uses 0.5 of 0.75 CPUs" in spawn.text, spawn.text
    finally:
        for service in hub.docker.services(filters={"name": f"model-{model}"}):
            hub.docker.remove_service(service["ID"])
        hub.remove_team(team, [carol])


def test_a_model_name_reused_after_its_deletion_in_mlflow_cannot_take_over_the_running_service(hub, images):
    """alice serves her model, then deletes it in MLflow; bob registers a model of the same name and releases it:
    400 naming the service and alice, and her service keeps serving her version to its callers."""
    alice, bob = f"rel-reuse-a-{secrets.token_hex(2)}", f"rel-reuse-b-{secrets.token_hex(2)}"
    model = f"r{secrets.token_hex(3)}"
    base = images[ENVIRONMENTS]["data-science"]
    for user in (alice, bob):
        hub.create_user(user, ["data-scientists"])
        hub.mlflow_session(user)
    try:
        assert log_model(hub, alice, base, model=model) == "1"
        assert release(hub, alice, {"model": f"{model}/1"}).status_code == 201
        before = hub.docker.inspect_service(f"model-{model}")
        deleted = hub.mlflow_session(alice).delete(f"{hub.mlflow_api}/registered-models/delete",
                                                   json={"name": model}, timeout=30)
        assert deleted.status_code == 200, deleted.text
        assert log_model(hub, bob, base, kind="constant", model=model) == "1"  # the name is free in MLflow
        refused = release(hub, bob, {"model": f"{model}/1"})
        assert refused.status_code == 400, refused.text
        assert (f"model: model-{model} serves a version of an earlier registered model of that name (released by"
                f" {alice})") in refused.json()["message"], refused.text
        after = hub.docker.inspect_service(f"model-{model}")
        assert after["Version"] == before["Version"]  # not updated
        assert after["Spec"]["Labels"]["mlops-hub.released-by"] == alice
    finally:
        for service in hub.docker.services(filters={"name": f"model-{model}"}):
            hub.docker.remove_service(service["ID"])


def test_a_notebook_releases_with_its_servers_token(hub, logged, monkeypatch):
    """mlops_hub.lab.release_model(), as notebook code calls it: the hub's API at JUPYTERHUB_API_URL with the
    server's token; a bad request raises naming the field."""
    from mlops_hub.lab import release_model
    from mlops_hub.lab.errors import InvalidInput

    alice, _ = logged
    served(hub, alice)
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"{hub.url}/hub/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub.user_headers(alice, "notebook")["Authorization"][6:])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_cert()))
    with pytest.raises(InvalidInput, match="replicas: a whole number from 1 to 8, got 0"):
        release_model(f"{MODEL}/1", replicas=0)
    done = release_model(f"{MODEL}/1")
    assert done["service"] == SERVICE and done["version"] == "1" and done["url"] == f"/models/{MODEL}/invocations"
