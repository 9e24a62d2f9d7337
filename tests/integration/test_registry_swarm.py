"""The platform's image registry on the shared stack, as `up` deploys it: every platform service and every user
server runs its image by digest from it, it serves them over TLS from the platform's CA only, its key stays a
secret, and `mlops-hub build` pushes to it. Workers pulling from it: test_multinode_swarm.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from mlops_hub.deploy.registry import CERTS_D, PLATFORM_IMAGES
from tests.support.edge_ca import HOST_BUNDLE, ca_cert

from .conftest import ENVIRONMENTS, REPO

pytestmark = pytest.mark.swarm

DIGESTED = re.compile(r"^(?P<repository>.+):(?P<tag>[^:@/]+)@(?P<digest>sha256:[0-9a-f]{64})$")
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_address(stack_settings) -> str:
    return stack_settings.published.registry.split("/", 1)[0]


def test_every_platform_service_runs_its_image_by_digest_from_the_stacks_registry(hub, stack_settings):
    published = stack_settings.published
    assert published is not None and published.registry == f"{registry_address(stack_settings)}/mlops-hub"
    assert registry_address(stack_settings).endswith(f":{stack_settings.registry_port}")
    services = hub.docker.services(filters={"label": f"com.docker.stack.namespace={stack_settings.stack}"})
    seen = set()
    for service in services:
        short = service["Spec"]["Name"].removeprefix(f"{stack_settings.stack}_")
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        if short == "registry":  # it cannot come from itself: the local image, on the node that built it
            assert image == f"mlops-hub/registry:{stack_settings.tag}"
            continue
        found = DIGESTED.match(image)
        assert found, f"{short} runs {image}, not a reference by digest"
        name = found["repository"].removeprefix(f"{published.registry}/")
        assert (name, found["tag"], found["digest"]) == (name, stack_settings.tag, published.digests[name]), short
        seen.add(name)
    assert set(PLATFORM_IMAGES) - {"lab-base"} <= seen  # every platform image but the servers' runs somewhere


def test_the_registry_serves_the_pushed_images_over_tls_from_the_platform_ca_only(hub, stack_settings, images):
    address, published = registry_address(stack_settings), stack_settings.published
    ca = str(ca_cert())
    catalogue = requests.get(f"https://{address}/v2/_catalog", verify=ca, timeout=30).json()["repositories"]
    shipped = {f"mlops-hub/{image.split('/')[-1].split(':')[0]}" for image in images[ENVIRONMENTS].values()}
    assert {f"mlops-hub/{name}" for name in PLATFORM_IMAGES} | shipped <= set(catalogue), catalogue
    manifest = requests.get(f"https://{address}/v2/mlops-hub/hub/manifests/{stack_settings.tag}",
                            headers={"Accept": MANIFEST_V2}, verify=ca, timeout=30)
    assert manifest.headers["Docker-Content-Digest"] == published.digests["hub"]
    with pytest.raises(requests.exceptions.SSLError):  # a certificate no public CA signed
        requests.get(f"https://{address}/v2/", verify=str(HOST_BUNDLE), timeout=30)
    # this node's Docker trusts the platform's CA for this registry only
    assert (CERTS_D / address / "ca.crt").read_bytes() == ca_cert().read_bytes()


def test_no_one_can_delete_a_manifest_the_nodes_pull(hub, stack_settings):
    """The registry asks no password (pulls need none): deletion is off, so no one can take away what runs."""
    address, ca = registry_address(stack_settings), str(ca_cert())
    digest = stack_settings.published.digests["hub"]
    deleted = requests.delete(f"https://{address}/v2/mlops-hub/hub/manifests/{digest}", verify=ca, timeout=30)
    assert deleted.status_code == 405, deleted.text
    assert "UNSUPPORTED" in deleted.text
    still = requests.head(f"https://{address}/v2/mlops-hub/hub/manifests/{digest}",
                          headers={"Accept": MANIFEST_V2}, verify=ca, timeout=30)
    assert still.status_code == 200


def test_a_user_server_runs_its_environment_image_by_digest(hub, stack_settings, images, user_name):
    hub.create_user(user_name, ["analysts"])
    r = hub.spawn(user_name, {"environment": "python", "cpu_limit": 0.5, "mem_limit": "1G"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user_name)
    try:
        image = hub.only_service(user_name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image == stack_settings.published.pins[images["lab-base"]]
        assert DIGESTED.match(image)["repository"] == f"{stack_settings.published.registry}/lab-base"
    finally:
        hub.stop(user_name)


def test_the_registry_key_is_a_secret_and_not_in_the_service_spec(hub, stack_settings):
    spec = json.dumps(hub.docker.inspect_service(f"{stack_settings.stack}_registry")["Spec"])
    key = (stack_settings.state_dir / stack_settings.stack / "registry-tls" / "tls.key").read_text()
    assert "PRIVATE KEY" not in spec and key.strip().splitlines()[1] not in spec
    assert f'"SecretName": "{stack_settings.stack}_registry_tls_key_' in spec


def test_mlops_hub_build_pushes_an_environment_to_the_stacks_registry(hub, stack_settings, images):
    done = subprocess.run([sys.executable, "-m", "mlops_hub.cli", "build", "--stack", stack_settings.stack,
                           "--env", "data-engineering"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    image = images[ENVIRONMENTS]["data-engineering"]
    # the same image, so the same digest `up` pinned the stack's hub to
    assert f"pushed {image}: {stack_settings.published.pins[image]}" in done.stdout, done.stdout
