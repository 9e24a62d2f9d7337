"""`up`'s registry modes: its own registry deployed first, a site's path, or none; the variables the pushes give
the stack and the hub; the CA a node trusts for the registry only. Docker's pushes are the integration tests'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_hub.deploy import registry, stack
from mlops_hub.deploy.registry import PLATFORM_IMAGES, Published, trust_registry_ca
from mlops_hub.deploy.stack import StackSettings, prepull_constraints, publish_images
from mlops_hub.policy.environments import EnvironmentCatalogue

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "c" * 64
ENVIRONMENTS = list(EnvironmentCatalogue.from_config([
    {"slug": "python", "display_name": "Python", "image": "mlops-hub/lab-base:latest", "default": True},
    {"slug": "gpu", "display_name": "GPU", "image": "art.example/ml/gpu:1", "node_labels": ["gpu"]},
]))


@pytest.fixture
def pushes(monkeypatch):
    """registry.publish and the own registry's deploy, recorded (no Docker)."""
    calls = []

    def publish(registry_path, tag, images):
        calls.append(("publish", registry_path, tag, list(images)))
        pins = {image: f"{registry_path}/{image.split('/')[-1]}@{DIGEST}" for image in images if "art." not in image}
        return Published(registry_path, {name: DIGEST for name in PLATFORM_IMAGES}, pins)

    def deploy_own(settings, env):
        calls.append(("deploy registry", settings.registry_port))
        return f"10.0.0.5:{settings.registry_port}"

    monkeypatch.setattr(stack, "publish", publish)
    monkeypatch.setattr(stack, "deploy_own_registry", deploy_own)
    return calls


def settings(tmp_path, **kw) -> StackSettings:
    return StackSettings(repo=REPO, stack="s", state_dir=tmp_path, tag="r-1", **kw)


def test_the_default_deploys_its_own_registry_first_and_pins_every_image(tmp_path, pushes):
    s = settings(tmp_path, registry_port=5123)
    env = {"MLOPS_LAB_IMAGE": "mlops-hub/lab-base:r-1"}
    files = publish_images(s, env, ENVIRONMENTS)
    assert files == [str(REPO / "swarm-stack.registry.yml")]
    assert pushes[0] == ("deploy registry", 5123)
    assert pushes[1] == ("publish", "10.0.0.5:5123/mlops-hub", "r-1",
                         ["mlops-hub/lab-base:r-1", "mlops-hub/lab-base:latest", "art.example/ml/gpu:1"])
    assert env["MLOPS_REGISTRY"] == "10.0.0.5:5123/mlops-hub" and env["MLOPS_DIGEST_HUB"] == f"@{DIGEST}"
    assert env["MLOPS_LAB_IMAGE"] == f"10.0.0.5:5123/mlops-hub/lab-base:r-1@{DIGEST}"
    assert json.loads(env["MLOPS_IMAGE_PINS"])["mlops-hub/lab-base:latest"].endswith(f"@{DIGEST}")
    # what wait_for_hub compares the hub's task with
    assert s.hub_image == f"10.0.0.5:5123/mlops-hub/hub:r-1@{DIGEST}"


def test_a_site_registry_gets_the_pushes_and_nothing_is_deployed_for_it(tmp_path, pushes):
    s = settings(tmp_path, registry="art.example/docker/mlops-hub")
    env = {"MLOPS_LAB_IMAGE": s.default_lab_image}
    assert publish_images(s, env, ENVIRONMENTS) == []
    assert [call[0] for call in pushes] == ["publish"] and pushes[0][1] == "art.example/docker/mlops-hub"
    assert env["MLOPS_REGISTRY"] == "art.example/docker/mlops-hub"


def test_no_registry_keeps_the_images_on_this_node(tmp_path, pushes):
    s = settings(tmp_path, own_registry=False)
    env = {"MLOPS_LAB_IMAGE": "mlops-hub/lab-base:r-1"}
    assert publish_images(s, env, ENVIRONMENTS) == [] and pushes == []
    assert env == {"MLOPS_LAB_IMAGE": "mlops-hub/lab-base:r-1"} and s.hub_image == "mlops-hub/hub:r-1"


def test_published_variables_are_the_stack_files():
    published = Published("reg:5000/mlops-hub", {"hub": DIGEST, "lab-base": DIGEST}, {"a/b:1": f"reg/b:1@{DIGEST}"})
    variables = published.variables()
    assert variables["MLOPS_DIGEST_LAB_BASE"] == f"@{DIGEST}"
    assert json.loads(variables["MLOPS_IMAGE_PINS"]) == {"a/b:1": f"reg/b:1@{DIGEST}"}


def test_environments_are_pre_pulled_only_where_they_may_run():
    assert prepull_constraints(ENVIRONMENTS[0]) == []
    assert prepull_constraints(ENVIRONMENTS[1]) == ["node.labels.gpu == true"]


def test_a_node_trusts_the_platform_ca_for_the_registry_address_only(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nx\n")
    written = trust_registry_ca("10.0.0.5:5000", ca, tmp_path / "certs.d")
    assert written == tmp_path / "certs.d" / "10.0.0.5:5000" / "ca.crt" and written.read_text() == ca.read_text()
    assert sorted(p.name for p in (tmp_path / "certs.d").iterdir()) == ["10.0.0.5:5000"]


def test_a_registry_push_error_names_the_image_and_login(monkeypatch):
    class Client:
        def tag(self, *args):
            pass

        def push(self, repository, tag, stream, decode):
            yield {"status": "Preparing"}
            yield {"error": "unauthorized: authentication required"}

    with pytest.raises(registry.DeployError, match="pushing mlops-hub/hub:r-1 to art.example/ml/hub:r-1 failed:"
                                                   " unauthorized.*docker login"):
        registry.push(Client(), "mlops-hub/hub:r-1", "art.example/ml/hub", "r-1")
