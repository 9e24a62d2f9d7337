"""`mlops-hub doctor`'s environments check on real images: one image per fault, built FROM the local lab image,
named for the right environment with its fault; the lab image itself passes. Needs Docker, not the stack."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from mlops_hub.deploy import doctor

pytestmark = pytest.mark.swarm

LAB_BASE = "mlops-hub/lab-base:latest"
# each fault a site's own image can have, as the one line of its Dockerfile after FROM the lab image
BROKEN = {
    "root": "USER root",
    # the venv belongs to the image's user (1000:100), so that user may remove it
    "no-singleuser": "RUN rm /opt/venv/bin/jupyterhub-singleuser",
    "wrong-port": 'CMD ["jupyterhub-singleuser","--port=9999"]',
}


def docker(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], input=stdin, capture_output=True, text=True)


@pytest.fixture(scope="module")
def lab_base_id() -> str:
    proc = docker("image", "inspect", "--format", "{{.Id}}", LAB_BASE)
    assert proc.returncode == 0, f"{LAB_BASE} is not built here: mlops-hub build ({proc.stderr.strip()})"
    return proc.stdout.strip().split(":")[-1][:12]


@pytest.fixture(scope="module")
def broken_images(lab_base_id) -> dict[str, str]:
    """fault kind -> a tiny image FROM the lab image with that fault (built once per lab image, then reused)."""
    images = {}
    for kind, line in BROKEN.items():
        tag = f"mlops-hub/test-broken-{kind}:{lab_base_id}"
        if docker("image", "inspect", tag).returncode != 0:
            built = docker("build", "-q", "-t", tag, "-", stdin=f"FROM {LAB_BASE}\n{line}\n")
            assert built.returncode == 0, built.stderr
        images[kind] = tag
    return images


def test_the_lab_image_has_jupyterhub_singleuser_where_the_broken_one_removes_it():
    proc = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", LAB_BASE, "-c",
                  "command -v jupyterhub-singleuser")
    assert proc.stdout.strip() == "/opt/venv/bin/jupyterhub-singleuser", proc.stderr


def test_doctor_names_each_broken_environment_with_its_fault_and_passes_the_good_one(broken_images, tmp_path):
    platform = tmp_path / "platform.yaml"
    environments = [{"slug": "python", "display_name": "Python", "image": LAB_BASE, "default": True}]
    environments += [{"slug": f"broken-{kind}", "display_name": kind, "image": image}
                     for kind, image in broken_images.items()]
    platform.write_text(yaml.safe_dump({"spawner": {"environments": environments}}))

    found = doctor.check_environments(platform)

    assert found.status == doctor.FAIL, found
    assert found.message.startswith(f"environments: 3 of 4 images in {platform} cannot run as user servers: ")
    problems = found.message.split(": ", 2)[2].split("; ")
    named = {p.split(" ")[0]: p for p in problems if p.startswith("'")}
    # each broken environment is named with its image and its one fault, and nothing else
    for kind, image in broken_images.items():
        problem = named[f"'broken-{kind}'"]
        assert problem.startswith(f"'broken-{kind}' ({image}) [{kind}]: "), found.message
        others = [k for k in BROKEN if k != kind]
        assert not any(f"'broken-{kind}' ({image}) [{other}]" in found.message for other in others), found.message
    assert "'python'" not in found.message
    assert "runs as root (USER root)" in named["'broken-root'"]
    assert "no jupyterhub-singleuser on its PATH" in named["'broken-no-singleuser'"]
    assert "its command passes port 9999" in found.message and "the hub connects on 8888" in found.message
    assert "'broken-root': end the image's Dockerfile with USER 1000:100 (jovyan)" in found.fix
    assert "'broken-no-singleuser': install jupyterhub in the image" in found.fix
    assert "'broken-wrong-port': remove the --port flag" in found.fix


def test_the_lab_image_alone_passes(tmp_path):
    platform = tmp_path / "platform.yaml"
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [
        {"slug": "python", "display_name": "Python", "image": LAB_BASE, "default": True}]}}))
    found = doctor.check_environments(platform)
    assert found.status == doctor.OK, found
    assert found.message.startswith("environments: every environment's image can run as a user server (1 checked")


def test_an_image_not_on_this_node_is_a_warning_naming_it(tmp_path):
    platform = tmp_path / "platform.yaml"
    absent = "mlops-hub/test-broken-never-built:0"
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [
        {"slug": "python", "display_name": "Python", "image": LAB_BASE, "default": True},
        {"slug": "absent", "display_name": "Absent", "image": absent}]}}))
    found = doctor.check_environments(platform)
    assert found.status == doctor.WARN, found
    assert found.message == f"environments: 'absent' ({absent}): not on this node, not checked"
