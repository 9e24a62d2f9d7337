"""The spawn form lists each environment's main packages, read from its image's label (`mlops-hub build`
writes it), with a fake Docker: under the right environment, none for an image without one, escaped."""

from __future__ import annotations

import asyncio
import json
import logging
from html.parser import HTMLParser

import pytest
from docker.errors import APIError

from mlops_hub.policy.image_labels import PACKAGES_LABEL

from .test_spawner import FakeDocker, make_spawner, offline, rendered_form

LAB, TORCH = "mlops-hub/lab-base:latest", "mlops-hub/lab-torch:2.4"  # fakes.ENVIRONMENTS' python, torch


def packages_label(packages: dict) -> dict[str, str]:
    return {PACKAGES_LABEL: json.dumps(packages), "maintainer": "the platform team"}


class EnvironmentTexts(HTMLParser):
    """slug -> the text a user reads under that environment's radio button."""

    def __init__(self, html: str):
        super().__init__()
        self.texts: dict[str, str] = {}
        self._slug: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "label" and dict(attrs).get("for", "").startswith("env-"):
            self._slug = dict(attrs)["for"].removeprefix("env-")
            self.texts[self._slug] = ""

    def handle_endtag(self, tag):
        if tag == "label":
            self._slug = None

    def handle_data(self, data):
        if self._slug is not None:
            self.texts[self._slug] += data

    def includes(self, slug: str) -> str | None:
        """The 'Includes: ...' line of an environment, whitespace normalised; None when it has none."""
        words = " ".join(self.texts[slug].split())
        return words[words.index("Includes:"):] if "Includes:" in words else None


# ---- the spawn form: each environment's main packages ------------------------------------------


async def test_the_form_lists_an_environments_packages_in_the_labels_order_under_that_environment():
    spawner = make_spawner(["data-scientists"])
    labels = {LAB: packages_label({"pandas": "3.1.1", "numpy": "2.5.5", "scikit-learn": "1.9.1"})}
    offline(spawner, FakeDocker(image_labels=labels))
    texts = EnvironmentTexts(await rendered_form(spawner))
    assert texts.includes("python") == "Includes: pandas 3.1.1, numpy 2.5.5, scikit-learn 1.9.1"
    assert "Needs at least 512M of memory." in texts.texts["python"]
    assert texts.includes("torch") is None  # its image has no label


async def test_each_environment_shows_its_own_images_packages():
    spawner = make_spawner(["data-scientists"])
    offline(spawner, FakeDocker(image_labels={LAB: packages_label({"pandas": "3.1.1"}),
                                              TORCH: packages_label({"torch": "2.4.1", "r-base-core": "4.2.2"})}))
    texts = EnvironmentTexts(await rendered_form(spawner))
    assert texts.includes("python") == "Includes: pandas 3.1.1"
    assert texts.includes("torch") == "Includes: torch 2.4.1, r-base-core 4.2.2"


async def test_an_image_not_on_this_node_shows_no_packages_and_the_form_still_renders():
    spawner = make_spawner(["data-scientists"])
    docker = FakeDocker(image_labels={LAB: packages_label({"pandas": "3.1.1"})}, missing_images={TORCH})
    offline(spawner, docker)
    texts = EnvironmentTexts(await rendered_form(spawner))
    assert set(texts.texts) == {"python", "torch"}
    assert texts.includes("python") == "Includes: pandas 3.1.1" and texts.includes("torch") is None
    assert sorted(args[0] for args, _ in docker.called("inspect_image")) == [LAB, TORCH]


@pytest.mark.parametrize("label", ["not json", '["pandas"]', '{"pandas": 3}'])
async def test_a_broken_label_shows_no_packages(label):
    spawner = make_spawner()
    offline(spawner, FakeDocker(image_labels={LAB: {PACKAGES_LABEL: label}}))
    assert EnvironmentTexts(await rendered_form(spawner)).includes("python") is None


async def test_a_docker_error_shows_no_packages_and_is_logged_once(caplog):
    image = "mlops-hub/lab-base:docker-error-test"  # its own image: whether it was logged before is known
    spawner = make_spawner(environments=[{"slug": "python", "display_name": "Python", "image": image}],
                           role_policies={})
    docker = FakeDocker()

    async def failing_inspect(method, *args, **kwargs):
        if method == "inspect_image":
            raise APIError("500 Server Error: daemon busy")
        return await docker(method, *args, **kwargs)

    offline(spawner, failing_inspect)
    with caplog.at_level(logging.WARNING):
        first = await rendered_form(spawner)
        await rendered_form(spawner)
    assert "Includes:" not in first and 'value="python"' in first
    assert [r.getMessage() for r in caplog.records if image in r.getMessage()] == [
        f"could not read the packages of image {image} for the spawn form: 500 Server Error: daemon busy"]


async def test_html_in_a_package_name_or_version_is_escaped():
    spawner = make_spawner()
    offline(spawner, FakeDocker(image_labels={LAB: packages_label({"<script>alert(1)</script>": "<b>1</b>"})}))
    form = await rendered_form(spawner)
    assert "<script>" not in form and "<b>1" not in form
    assert "Includes: &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;1&lt;/b&gt;" in form


async def test_the_images_are_inspected_concurrently_and_each_once():
    envs = [{"slug": "a", "image": "img:a"}, {"slug": "b", "image": "img:b"}, {"slug": "c", "image": "img:a"}]
    spawner = make_spawner(environments=envs, role_policies={})
    docker, in_flight, most_in_flight = FakeDocker(image_labels={"img:a": packages_label({"x": "1"})}), [], []

    async def slow_inspect(method, *args, **kwargs):
        if method == "inspect_image":
            in_flight.append(args[0])
            most_in_flight.append(len(in_flight))
            for _ in range(3):  # give the other inspects their turn before answering
                await asyncio.sleep(0)
            in_flight.remove(args[0])
        return await docker(method, *args, **kwargs)

    offline(spawner, slow_inspect)
    texts = EnvironmentTexts(await rendered_form(spawner))
    assert max(most_in_flight) == 2  # both images asked at once; one at a time would be 1
    assert sorted(args[0] for args, _ in docker.called("inspect_image")) == ["img:a", "img:b"]
    assert texts.includes("a") == texts.includes("c") == "Includes: x 1" and texts.includes("b") is None
