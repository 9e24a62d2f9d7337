"""The stack names its images ${MLOPS_REGISTRY}/<name>:${MLOPS_TAG}${MLOPS_DIGEST_<NAME>}, so a site can point at
its Artifactory and every node runs the same bits; `up` builds them locally under one release tag derived from the
images themselves, then pushes them and sets the digests."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from mlops_hub.deploy.images import release_tag
from mlops_hub.deploy.registry import PLATFORM_IMAGES
from mlops_hub.deploy.stack import StackSettings, stack_env
from mlops_hub.policy.image_pins import digest_variable

REPO = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"\$\{MLOPS_REGISTRY:-mlops-hub\}/(?P<name>[a-z-]+):\$\{MLOPS_TAG:-latest\}"
                       r"\$\{(?P<digest>MLOPS_DIGEST_[A-Z_]+):-\}")


def test_every_service_image_is_registry_name_and_tag_of_a_platform_image():
    services = yaml.safe_load((REPO / "swarm-stack.yml").read_text())["services"]
    raw = (REPO / "swarm-stack.yml").read_text()
    anchors = dict(re.findall(r"^x-([a-z-]+): &\S+ (.+)$", raw, re.M))
    for name, service in services.items():
        image = service["image"]
        match = REFERENCE.fullmatch(image if "${" in image else anchors.get("hub-image", image))
        assert match, f"{name}: {image}"
        assert match["name"] in PLATFORM_IMAGES, (name, image)
        assert match["digest"] == digest_variable(match["name"]), (name, image)


def test_a_site_registry_and_tag_reach_every_service():
    env = {**os.environ, "MLOPS_REGISTRY": "artifactory.example.com/mlops", "MLOPS_TAG": "r-0123"}
    rendered = subprocess.run(["docker", "stack", "config", "-c", str(REPO / "swarm-stack.yml")], env=env,
                              capture_output=True, text=True, check=True).stdout
    images = {s["image"] for s in yaml.safe_load(rendered)["services"].values()}
    assert images and all(re.fullmatch(r"artifactory\.example\.com/mlops/[a-z-]+:r-0123", i) for i in images), images


def test_digests_pin_every_service_to_what_was_pushed():
    digests = {digest_variable(name): f"@sha256:{index:064x}" for index, name in enumerate(PLATFORM_IMAGES)}
    env = {**os.environ, "MLOPS_REGISTRY": "10.0.0.5:5000/mlops-hub", "MLOPS_TAG": "r-1", **digests}
    rendered = subprocess.run(["docker", "stack", "config", "-c", str(REPO / "swarm-stack.yml")], env=env,
                              capture_output=True, text=True, check=True).stdout
    for service in yaml.safe_load(rendered)["services"].values():
        name = re.fullmatch(r"10\.0\.0\.5:5000/mlops-hub/([a-z-]+):r-1@sha256:[0-9a-f]{64}", service["image"])[1]
        assert service["image"].endswith(digests[digest_variable(name)]), service["image"]


def test_the_release_tag_follows_the_images_and_only_them():
    ids = {"hub": "sha256:aa", "edge": "sha256:bb"}
    assert release_tag(ids) == release_tag(dict(reversed(ids.items())))
    assert release_tag(ids) != release_tag({**ids, "edge": "sha256:cc"})
    assert re.fullmatch(r"r-[0-9a-f]{12}", release_tag(ids))


def test_up_passes_registry_tag_and_the_default_lab_image(tmp_path):
    settings = StackSettings(repo=REPO, state_dir=tmp_path, ca_dir=tmp_path / "ca", tag="r-1",
                             registry="registry.local:5000/mlops")
    assert settings.registry_mode == "site"
    env = stack_env(settings)
    assert (env["MLOPS_REGISTRY"], env["MLOPS_TAG"]) == ("registry.local:5000/mlops", "r-1")
    assert env["MLOPS_LAB_IMAGE"] == "registry.local:5000/mlops/lab-base:r-1" == settings.default_lab_image
    assert settings.hub_image == "registry.local:5000/mlops/hub:r-1"
