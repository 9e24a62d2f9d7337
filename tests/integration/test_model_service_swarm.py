"""The release engine on the real swarm (issue: models to production): a model saved by MLflow in the data-science
environment becomes a serving image built on that environment and the service `model-<name>`; a version that
cannot start is rolled back by Swarm itself while the old one keeps answering; a good new version replaces it.

Below the hub: the REST API, the CLI and the front door build on swarm/model_service.py, tested here alone."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import docker
import pytest

from mlops_hub.policy.model_release import RoleRoom, model_service, parse_release
from mlops_hub.swarm.model_service import build_serving_image, deploy_model_service, wait_rollout

from .conftest import ENVIRONMENTS

pytestmark = pytest.mark.swarm

RUN = secrets.token_hex(3)
MODEL = f"t{RUN}"
NETWORK = f"mlops-test-models-{RUN}"
ROOM = RoleRoom("data-scientists", max_cpu=1, max_mem=2 * 1024**3)

# run in the data-science environment, as a notebook there would: three versions of one model
SAVE_MODELS = """
import json, pathlib, mlflow, numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
mlflow.sklearn.save_model(LogisticRegression().fit(X, y), "/models/v1")
mlflow.sklearn.save_model(LogisticRegression().fit(X, y), "/models/v2")
for f in pathlib.Path("/models/v2").glob("model.*"):
    f.unlink()  # a version whose model file is missing: its server cannot start
mlflow.sklearn.save_model(DummyClassifier(strategy="constant", constant=1).fit(X, y), "/models/v3")
"""


@pytest.fixture(scope="module")
def models(images, tmp_path_factory) -> tuple[str, Path]:
    """The data-science environment image and the directory with v1, v2 (broken) and v3."""
    base = images[ENVIRONMENTS]["data-science"]
    out = tmp_path_factory.mktemp("models")
    client = docker.from_env()
    client.containers.run(base, ["python3", "-c", SAVE_MODELS], user="0:0", remove=True,
                          volumes={str(out): {"bind": "/models", "mode": "rw"}})
    subprocess.run(["chmod", "-R", "a+rX", str(out)], check=True)
    client.api.create_network(NETWORK, driver="overlay", attachable=True, labels={"mlops-test-run": RUN})
    yield base, out
    for service in client.api.services(filters={"name": f"model-{MODEL}"}):
        client.api.remove_service(service["ID"])
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
    for version in ("v1", "v2", "v3"):
        subprocess.run(["docker", "image", "rm", "-f", f"mlops-test-model-{RUN}:{version}"], capture_output=True)


def predict(base: str) -> dict:
    """POST /invocations to the service by its name, from a container on its network, as the front door would."""
    probe = ("import json, urllib.request\n"
             f"req = urllib.request.Request('http://model-{MODEL}:8080/invocations',"
             " data=json.dumps({'inputs': [[0.5], [2.5]]}).encode(), headers={'Content-Type': 'application/json'})\n"
             "print(urllib.request.urlopen(req, timeout=10).read().decode())\n")
    out = docker.from_env().containers.run(base, ["python3", "-c", probe], network=NETWORK, remove=True)
    return json.loads(out.decode())


def release(base: str, models: Path, version: str) -> tuple[object, object]:
    client = docker.APIClient()
    said: list[str] = []
    image = build_serving_image(client, models / version, base, f"mlops-test-model-{RUN}:{version}", said.append)
    assert any(line.startswith("Step ") for line in said)
    request = parse_release({"model": f"{MODEL}/{version[1:]}", "mem": "512M"}, ROOM)
    spec = model_service(request, version[1:], f"run-{version}", image, "alice", NETWORK)
    return spec, wait_rollout(client, spec, deploy_model_service(client, spec), said.append)


def test_a_model_is_served_and_a_broken_version_rolls_back_by_itself_then_a_good_one_replaces_it(models):
    base, directory = models
    spec, first = release(base, directory, "v1")
    assert first.state == "created" and first.image == spec.image
    assert predict(base) == {"predictions": [0, 1]}
    service = docker.APIClient().inspect_service(f"model-{MODEL}")
    assert service["Spec"]["UpdateConfig"]["FailureAction"] == "rollback"
    assert service["Spec"]["Labels"]["mlops-hub.model-version"] == "1"
    limits = service["Spec"]["TaskTemplate"]["Resources"]["Limits"]
    assert (limits["NanoCPUs"], limits["MemoryBytes"]) == (500_000_000, 512 * 1024**2)

    broken, second = release(base, directory, "v2")
    assert second.rolled_back, second
    assert second.image == spec.image != broken.image  # Swarm put v1 back
    assert predict(base) == {"predictions": [0, 1]}  # and v1 still answers

    good, third = release(base, directory, "v3")
    assert third.state == "completed" and third.image == good.image
    assert predict(base) == {"predictions": [1, 1]}
