"""Pinned image references: where a local image is pushed, the pin the hub spawns from, and bad values named."""

from __future__ import annotations

import json

import pytest

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.image_pins import (
    colliding_targets,
    digest_variable,
    parse_pins,
    pin,
    pinned_reference,
    registry_flags_error,
    registry_target,
    split_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("image, expected", [
    ("mlops-hub/lab-base:latest", ("mlops-hub/lab-base", "latest")),
    ("mlops-hub/env-r", ("mlops-hub/env-r", "latest")),
    ("10.0.0.5:5000/mlops-hub/hub", ("10.0.0.5:5000/mlops-hub/hub", "latest")),  # the colon is the port's
    ("10.0.0.5:5000/mlops-hub/hub:r-1", ("10.0.0.5:5000/mlops-hub/hub", "r-1")),
    (f"reg.io/a:1@{DIGEST}", ("reg.io/a", "1")),
])
def test_a_reference_splits_into_repository_and_tag_as_docker_reads_it(image, expected):
    assert split_reference(image) == expected


def test_a_local_image_goes_to_the_registry_under_its_last_name_component():
    assert registry_target("10.0.0.5:5000/mlops-hub", "mlops-hub/env-r:1.2") == ("10.0.0.5:5000/mlops-hub/env-r", "1.2")
    assert registry_target("art.example/ml/", "team/lab:2") == ("art.example/ml/lab", "2")
    assert pinned_reference("art.example/ml/lab", "2", DIGEST) == f"art.example/ml/lab:2@{DIGEST}"
    with pytest.raises(ValueError, match="not an image digest"):
        pinned_reference("art.example/ml/lab", "2", "sha256:short")


def test_two_images_that_would_share_a_registry_name_are_named():
    assert colliding_targets("reg.io/p", ["a/lab:1", "b/lab:2"]) is None
    message = colliding_targets("reg.io/p", ["a/lab:1", "b/lab:1"])
    assert message.startswith("a/lab:1 and b/lab:1 would both be pushed as reg.io/p/lab:1")


def test_the_stack_variable_of_each_platform_image():
    assert digest_variable("hub") == "MLOPS_DIGEST_HUB"
    assert digest_variable("lab-base") == "MLOPS_DIGEST_LAB_BASE"


def test_pins_parse_and_apply_and_an_image_without_one_runs_as_configured():
    pins = parse_pins(json.dumps({"mlops-hub/lab-base:latest": f"reg:5000/mlops-hub/lab-base:latest@{DIGEST}"}))
    assert pin("mlops-hub/lab-base:latest", pins) == f"reg:5000/mlops-hub/lab-base:latest@{DIGEST}"
    assert pin("art.example/ml/lab:2", pins) == "art.example/ml/lab:2"
    assert parse_pins("") == {} == parse_pins("  ")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"a": 1}', '{"a": "reg/a:1"}'])
def test_a_malformed_pins_value_names_the_variable(text):
    with pytest.raises(ConfigError, match="^MLOPS_IMAGE_PINS: expected a JSON object"):
        parse_pins(text)


@pytest.mark.parametrize("registry, no_registry, fragment", [
    ("art.example/ml", True, "choose one"),
    ("https://art.example/ml", False, "not a registry path"),
    ("art.example/ml:1.0", False, "not a registry path"),
    ("mlops-hub", False, "not a registry path"),  # no host: Docker Hub's namespace
    ("mlops-hub/lab", False, "not a registry path"),  # a local name: other nodes cannot pull it
    ("art.example/ML", False, "not a registry path"),
])
def test_registry_flags_that_cannot_work_are_refused_naming_the_flag(registry, no_registry, fragment):
    message = registry_flags_error(registry, no_registry)
    assert message and message.startswith("--registry") and fragment in message


@pytest.mark.parametrize("registry", ["art.example/docker/mlops-hub", "10.0.0.5:5000/mlops-hub", "localhost:5000/x"])
def test_registry_paths_a_node_can_pull_from_are_taken(registry):
    assert registry_flags_error(registry, False) is None
    assert registry_flags_error(None, True) is None
