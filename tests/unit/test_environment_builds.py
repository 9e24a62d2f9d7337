"""Environments built from platform.yaml's `build` folders: which, from where, and the packages label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_hub.deploy.environments import (
    EnvironmentBuild,
    environment_builds,
    packages_label,
    parse_main_packages,
    upstream_version,
)
from mlops_hub.deploy.shell import DeployError
from mlops_hub.policy.environments import EnvironmentCatalogue
from mlops_hub.policy.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def platform(tmp_path: Path, environments: list[dict]) -> Path:
    path = tmp_path / "conf" / "platform.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"spawner": {"environments": environments}}))
    return path


def env_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    return folder


def test_build_folders_are_relative_to_platform_yaml_and_unbuilt_environments_are_left_out(tmp_path):
    env_folder(tmp_path, "envs/geo")
    path = platform(tmp_path, [
        {"slug": "python", "image": "mlops-hub/lab-base:latest"},
        {"slug": "geo", "image": "site/env-geo:1.2", "build": "../envs/geo"},
    ])
    assert environment_builds(path) == [EnvironmentBuild("geo", (tmp_path / "envs/geo").resolve(), "site/env-geo:1.2")]


def test_the_shipped_catalogue_builds_four_environments_from_images():
    builds = environment_builds(REPO / "config" / "platform.yaml")
    assert [b.slug for b in builds] == ["data-science", "pyspark", "r", "data-engineering"]
    for build in builds:
        assert build.context == REPO / "images" / f"env-{build.slug}"
        assert (build.context / "Dockerfile").is_file()


def test_env_names_one_environment_and_an_unknown_one_is_named_with_the_known(tmp_path):
    env_folder(tmp_path, "a")
    env_folder(tmp_path, "b")
    path = platform(tmp_path, [{"slug": "a", "image": "x/a", "build": "../a"},
                               {"slug": "b", "image": "x/b", "build": "../b"}])
    assert [b.slug for b in environment_builds(path, ["b"])] == ["b"]
    with pytest.raises(ConfigError) as e:
        environment_builds(path, ["nope"])
    assert "--env" in str(e.value) and "nope" in str(e.value) and "a, b" in str(e.value)


def test_env_without_a_build_folder_says_its_image_is_built_elsewhere(tmp_path):
    path = platform(tmp_path, [{"slug": "python", "image": "mlops-hub/lab-base:latest"}])
    with pytest.raises(ConfigError) as e:
        environment_builds(path, ["python"])
    assert "environments[0].build" in str(e.value) and "built elsewhere" in str(e.value)


def test_a_build_folder_without_dockerfile_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    path = platform(tmp_path, [{"slug": "geo", "image": "x/geo", "build": "../empty"}])
    with pytest.raises(ConfigError) as e:
        environment_builds(path)
    assert "environments[0].build" in str(e.value) and "no Dockerfile" in str(e.value)


@pytest.mark.parametrize("raw, key", [
    ({"slug": "geo", "image": "x/geo@sha256:" + "a" * 64, "build": "envs/geo"}, "environments[0].image"),
    ({"slug": "geo", "image": "x/geo", "build": ""}, "environments[0].build"),
    ({"slug": "geo", "image": "x/geo", "build": ["envs/geo"]}, "environments[0].build"),
])
def test_a_bad_build_entry_is_refused_naming_the_key(raw, key):
    with pytest.raises(ConfigError) as e:
        EnvironmentCatalogue.from_config([raw])
    assert key in str(e.value)


@pytest.mark.parametrize("image, repository", [
    ("mlops-hub/env-r:latest", "mlops-hub/env-r"),
    ("mlops-hub/env-r", "mlops-hub/env-r"),
    ("registry.local:5000/team/env-geo", "registry.local:5000/team/env-geo"),
    ("registry.local:5000/team/env-geo:2", "registry.local:5000/team/env-geo"),
])
def test_the_hashed_tag_goes_on_the_image_s_repository(image, repository):
    assert EnvironmentBuild("x", Path("."), image).repository == repository


def test_main_packages_are_names_or_shown_names_of_python_or_debian_packages():
    assert parse_main_packages("pandas  R=deb:r-base-core deb:procps Client=mlflow-skinny") == [
        ("pandas", "pandas"), ("R", "deb:r-base-core"), ("procps", "deb:procps"), ("Client", "mlflow-skinny")]
    assert parse_main_packages("") == []
    with pytest.raises(DeployError, match="'R='"):
        parse_main_packages("R=")
    with pytest.raises(DeployError, match="'R=deb:'"):
        parse_main_packages("R=deb:")


@pytest.mark.parametrize("source, version, shown", [
    ("deb:r-base-core", "4.2.2.20221110-2", "4.2.2.20221110"),
    ("deb:openjdk-17-jre-headless", "17.0.19+10-1~deb12u2", "17.0.19+10"),
    ("deb:r-cran-ggplot2", "3.4.1+dfsg-1", "3.4.1"),
    ("deb:default-jre-headless", "2:1.17-74", "1.17"),
    ("pandas", "3.1.1", "3.1.1"),
    ("torch", "2.13.0+cpu", "2.13.0+cpu"),  # a Python version keeps its local part
])
def test_debian_versions_are_shown_as_upstream_ones(source, version, shown):
    assert upstream_version(source, version) == shown


def test_the_label_keeps_the_declared_order_and_a_missing_package_fails_the_build():
    main = [("pandas", "pandas"), ("R", "deb:r-base-core")]
    label = packages_label(main, {"pandas": "3.1.1", "deb:r-base-core": "4.2.2-2"}, "img")
    assert list(json.loads(label).items()) == [("pandas", "3.1.1"), ("R", "4.2.2")]
    with pytest.raises(DeployError) as e:
        packages_label(main, {"pandas": "3.1.1", "deb:r-base-core": None}, "site/env:1")
    assert "site/env:1" in str(e.value) and "deb:r-base-core" in str(e.value)
