"""A release from start to end on the real swarm, below the hub's API (mlops_hub/release/engine.py): a model logged
from the data-science environment, as a platform server logs it, to a real MLflow run as the platform runs it; the
release builds its serving image on that environment, serves it as `model-<name>` and records itself on the version.
Bad requests and a user who may not change the model leave nothing behind."""

from __future__ import annotations

import json
import secrets
import subprocess

import docker
import pytest
from mlflow import MlflowClient

from mlops_hub.names import TAG_ENVIRONMENT, TAG_IMAGE_DIGEST
from mlops_hub.policy.model_release import ReleaseError, RoleRoom
from mlops_hub.release.engine import Target, release
from mlops_hub.release.mlflow_source import (
    ACTING_USER_PROVIDER,
    ACTING_USER_VARIABLE,
    DEPLOYED_ALIAS,
    RELEASE_REQUESTED_TAG,
    acting_as,
)
from tests.support.mlflow_server import MlflowServer

from .conftest import ENVIRONMENTS

pytestmark = pytest.mark.swarm

RUN = secrets.token_hex(3)
MODEL = f"e{RUN}"
NETWORK = f"mlops-test-release-{RUN}"
ROOM = RoleRoom("data-scientists", max_cpu=1, max_mem=2 * 1024**3)

# in the data-science environment, as alice's server there would run it (its env names the image and environment)
TRAIN = f"""
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
mlflow.set_experiment("release-engine")
with mlflow.start_run():
    mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name="{MODEL}")
"""


@pytest.fixture(scope="module")
def logged(images):
    """A real MLflow with alice's model version 1, logged from the data-science environment."""
    server = MlflowServer(edge_auth=True)
    server.extra_args = ["--allowed-hosts", f"127.0.0.1:{server.port}"]
    server.start()
    base = images[ENVIRONMENTS]["data-science"]
    client = docker.from_env()
    image_id = client.images.get(base).id
    client.containers.run(base, ["python3", "-c", TRAIN], network_mode="host", remove=True, environment={
        "MLFLOW_TRACKING_URI": server.url, "MLFLOW_TRACKING_AUTH": ACTING_USER_PROVIDER,
        ACTING_USER_VARIABLE: "alice", "MLOPS_IMAGE_DIGEST": image_id, "MLOPS_ENVIRONMENT": "data-science"})
    client.api.create_network(NETWORK, driver="overlay", attachable=True, labels={"mlops-test-run": RUN})
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_AUTH", ACTING_USER_PROVIDER)  # as the hub's environment sets it
    yield server, base
    mp.undo()
    for service in client.api.services(filters={"name": f"model-{MODEL}"}):
        client.api.remove_service(service["ID"])
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
    subprocess.run(["docker", "image", "rm", "-f", f"mlops-hub/model-{MODEL}:v1"], capture_output=True)
    server.stop()


def services() -> list[str]:
    return [s["Spec"]["Name"] for s in docker.APIClient().services(filters={"name": f"model-{MODEL}"})]


@pytest.mark.parametrize(("user", "body", "expected"), [
    ("alice", {"model": f"{MODEL}/7"}, f"model: {MODEL}/7: no such registered model version or alias in MLflow"),
    ("alice", {"model": f"{MODEL}@champion"}, "no such registered model version or alias"),
    ("alice", {"model": f"{MODEL}/1", "mem": "16G"}, "mem: from 256M to 2G (role 'data-scientists'), got '16G'"),
    ("alice", {"model": "Not A Service/1"}, "model: 'Not A Service' cannot name a service"),
    ("bob", {"model": f"{MODEL}/1"}, f"model: {MODEL}: you may not release it"),
])
def test_a_bad_release_is_refused_naming_the_field_and_deploys_nothing(logged, user, body, expected):
    server, _ = logged
    said: list[str] = []
    with pytest.raises(ReleaseError) as info:
        release(docker.APIClient(), MlflowClient(server.url), Target(None, NETWORK, server.url), user, ROOM, body,
                said.append)
    assert expected in str(info.value)
    assert services() == [] and said == []  # nothing built, nothing deployed
    assert not docker.from_env().images.list(name=f"mlops-hub/model-{MODEL}")


def test_a_registered_version_is_served_from_its_training_environment_and_recorded(logged):
    server, base = logged
    said: list[str] = []
    mlflow_client = MlflowClient(server.url)
    done = release(docker.APIClient(), mlflow_client, Target(None, NETWORK, server.url), "alice", ROOM,
                   {"model": f"{MODEL}/1", "cpu": 0.5, "mem": "512M"}, said.append)
    assert (done.service, done.version, done.state) == (f"model-{MODEL}", "1", "created")
    assert said[0].startswith(f"releasing {MODEL} version 1 (run ") and "environment data-science" in said[0]
    # the serving image is the training environment's layers plus the model's
    base_layers = docker.from_env().images.get(base).attrs["RootFS"]["Layers"]
    serving_layers = docker.from_env().images.get(done.image).attrs["RootFS"]["Layers"]
    assert serving_layers[:len(base_layers)] == base_layers and len(serving_layers) > len(base_layers)
    probe = ("import json, urllib.request\n"
             f"req = urllib.request.Request('http://model-{MODEL}:8080/invocations',"
             " data=json.dumps({'inputs': [[0.5], [2.5]]}).encode(), headers={'Content-Type': 'application/json'})\n"
             "print(urllib.request.urlopen(req, timeout=10).read().decode())\n")
    out = docker.from_env().containers.run(base, ["python3", "-c", probe], network=NETWORK, remove=True)
    assert json.loads(out.decode()) == {"predictions": [0, 1]}
    with acting_as("alice"):
        version = mlflow_client.get_model_version(MODEL, "1")
        assert mlflow_client.get_model_version_by_alias(MODEL, DEPLOYED_ALIAS).version == "1"
    assert version.tags["mlops_hub.deployed_service"] == f"model-{MODEL}"
    assert version.tags["mlops_hub.deployed_image"] == done.image
    assert version.tags["mlops_hub.deployed_by"] == "alice"


def test_a_model_deleted_and_registered_again_by_another_user_cannot_take_over_its_service(logged):
    """alice's model is served; she deletes it in MLflow, and bob registers a model of the same name: his release
    is refused naming the service and who released it, and alice's service keeps running unchanged - both when the
    service says which registered model it serves and when it predates that label (then MLflow is asked whether
    its run is a version of bob's model)."""
    server, base = logged
    api, mlflow_client, said = docker.APIClient(), MlflowClient(server.url), []
    target = Target(None, NETWORK, server.url)
    if not services():
        release(api, mlflow_client, target, "alice", ROOM, {"model": f"{MODEL}/1"}, said.append)
    service = f"model-{MODEL}"
    assert api.inspect_service(service)["Spec"]["Labels"].get("mlops-hub.model-created")
    with acting_as("alice"):
        mlflow_client.delete_registered_model(MODEL)
    with acting_as("bob"):
        experiment = mlflow_client.create_experiment(f"release-engine-bob-{RUN}")
        run = mlflow_client.create_run(experiment, tags={TAG_IMAGE_DIGEST: docker.from_env().images.get(base).id,
                                                         TAG_ENVIRONMENT: "data-science"})
        mlflow_client.create_registered_model(MODEL)
        mlflow_client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id)
    for case in ("labelled", "older service"):
        if case == "older service":  # a service label only: no task changes
            subprocess.run(["docker", "service", "update", "--detach", "--label-rm", "mlops-hub.model-created",
                            service], check=True, capture_output=True)
        before = api.inspect_service(service)
        said.clear()
        with pytest.raises(ReleaseError) as info:
            release(api, mlflow_client, target, "bob", ROOM, {"model": f"{MODEL}/1"}, said.append)
        assert (f"model: {service} serves a version of an earlier registered model of that name (released by alice)"
                in str(info.value)), (case, str(info.value))
        after = api.inspect_service(service)
        assert after["Version"] == before["Version"] and said == [], case  # nothing built, nothing deployed
        assert after["Spec"]["Labels"]["mlops-hub.released-by"] == "alice", case
        with acting_as("bob"):  # nothing written on bob's version either
            assert RELEASE_REQUESTED_TAG not in mlflow_client.get_model_version(MODEL, "1").tags, case
