"""The registry every node pulls the platform's images from, and the pushes that pin them by digest.

Three ways, chosen by `up`'s flags (StackSettings.registry_mode):
- own (the default): swarm-stack.registry.yml, deployed first on its own, on this manager's swarm address with a
  certificate from the platform's CA; every node's daemon trusts that CA for it in /etc/docker/certs.d;
- site: MLOPS_REGISTRY / --registry names a path in the site's registry (Artifactory); the operator has run
  `docker login` for it; nothing is deployed for it;
- none (--no-registry): images stay on this node, as one-node platforms did before.
The pushes (own and site) give every platform image and every environment image a reference by digest.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from ..policy.image_pins import (
    PINS_VARIABLE,
    colliding_targets,
    digest_variable,
    from_a_registry,
    pinned_reference,
    registry_target,
)
from ..swarm.image_push import PushFailed
from ..swarm.image_push import push as push_image
from .hashes import file_hash
from .images import IMAGE_REPO, RECIPES
from .shell import DeployError, run, say
from .tls import ensure_local_certificate

REGISTRY_FILE = "swarm-stack.registry.yml"
REGISTRY_SERVICE = "registry"
# what the stack pushes; the registry's own image cannot come from itself
PLATFORM_IMAGES = tuple(name for name in RECIPES if name != REGISTRY_SERVICE)
CERTS_D = Path("/etc/docker/certs.d")  # each daemon reads <registry>/ca.crt from here at every pull and push
ANSWER_SECONDS = 120.0  # how long `up` waits for a new registry to answer before naming its log


@dataclass
class Published:
    """What the pushes gave: the path the platform's images are under, their digests, the environments' pins."""

    registry: str
    digests: dict[str, str] = field(default_factory=dict)  # platform image name -> sha256:...
    pins: dict[str, str] = field(default_factory=dict)  # environment image as configured -> pinned reference

    def variables(self) -> dict[str, str]:
        """The stack file's variables for these images."""
        env = {"MLOPS_REGISTRY": self.registry, PINS_VARIABLE: json.dumps(self.pins, sort_keys=True)}
        env.update({digest_variable(name): f"@{digest}" for name, digest in self.digests.items()})
        return env


def registry_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def swarm_address() -> str:
    """This manager's swarm address (what other nodes reach it at)."""
    address = (docker.from_env().info().get("Swarm") or {}).get("NodeAddr") or ""
    if not address:
        raise DeployError("docker info reports no swarm address: is this node a swarm manager? (docker swarm init)")
    return address


def trust_registry_ca(address: str, ca: Path, certs_d: Path = CERTS_D) -> Path:
    """This node's daemon trusts the platform's CA for the registry (only for it: certs.d is per registry)."""
    target = certs_d / address / "ca.crt"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != ca.read_bytes():
        target.write_bytes(ca.read_bytes())
    return target


def own_registry_variables(settings, address_host: str) -> dict[str, str]:
    """swarm-stack.registry.yml's variables: its local image, node, port and certificate (made when needed)."""
    # loopback names too: the service's health check asks itself at 127.0.0.1
    tls = ensure_local_certificate(settings.local_ca_dir, settings.state_dir / settings.stack / "registry-tls",
                                   [address_host, "127.0.0.1", "localhost"])
    node_id = docker.from_env().info()["Swarm"]["NodeID"]
    return {
        "MLOPS_REGISTRY_IMAGE": f"{IMAGE_REPO}/{REGISTRY_SERVICE}:{settings.tag}",
        "MLOPS_REGISTRY_PORT": str(settings.registry_port),
        "MLOPS_REGISTRY_NODE": node_id,
        "MLOPS_REGISTRY_TLS_CERT_FILE": str(tls.cert.resolve()),
        "MLOPS_REGISTRY_TLS_KEY_FILE": str(tls.key.resolve()),
        "MLOPS_SECRET_HASH_registry_tls_cert": file_hash(tls.cert),
        "MLOPS_SECRET_HASH_registry_tls_key": file_hash(tls.key),
    }


def deploy_own_registry(settings, env: dict[str, str]) -> str:
    """Deploy the registry alone (the rest of the stack untouched) and wait until it answers; its address."""
    host = swarm_address()
    address = registry_address(host, settings.registry_port)
    env.update(own_registry_variables(settings, host), MLOPS_STACK=settings.stack)
    ca = settings.local_ca_dir / "ca.crt"
    trust_registry_ca(address, ca)
    say(f"deploying the image registry at {address}")
    # no --prune: this deploys one file of the stack, and must not remove the services of the others
    run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(settings.repo / REGISTRY_FILE),
         settings.stack], env=env, quiet=True)
    wait_for_registry(address, ca, f"{settings.stack}_{REGISTRY_SERVICE}")
    return address


def running_own_registry(stack: str) -> str | None:
    """The address of a stack's own registry when `up` deployed one (for `mlops-hub build` to push to)."""
    client = docker.APIClient()
    try:
        service = client.inspect_service(f"{stack}_{REGISTRY_SERVICE}")
    except docker.errors.NotFound:
        return None
    ports = (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
    return registry_address(swarm_address(), ports[0]["PublishedPort"]) if ports else None


def wait_for_registry(address: str, ca: Path, service: str, timeout: float = ANSWER_SECONDS) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"https://{address}/v2/", timeout=3, context=context) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.5)
    raise DeployError(f"the image registry did not answer at https://{address}/v2/ within {timeout:.0f}s ({last});"
                      f" see `docker service logs {service}`")


def push(client: docker.APIClient, image: str, repository: str, tag: str) -> str:
    """swarm/image_push.py's push; a refusal is the CLI's one-line error."""
    try:
        return push_image(client, image, repository, tag)
    except PushFailed as e:
        raise DeployError(str(e)) from None


def publish(registry: str, tag: str | None, environment_images: Iterable[str]) -> Published:
    """Push the platform's images (<IMAGE_REPO>/<name>:<tag>; none when tag is None) and the environments' local
    images to `registry`; what every service is then deployed from."""
    client = docker.APIClient()
    local = sorted({image for image in environment_images if not from_a_registry(image)})
    collision = colliding_targets(registry, local)
    if collision:
        raise DeployError(f"platform.yaml's environments: {collision}")
    published = Published(registry)
    started = time.monotonic()
    for name in PLATFORM_IMAGES if tag else ():
        published.digests[name] = push(client, f"{IMAGE_REPO}/{name}:{tag}", f"{registry}/{name}", tag)
        say(f"pushed {name} ({published.digests[name][:19]})")
    for image in local:
        if not client.images(name=image):
            say(f"warning: environment image {image} is not on this node: not pushed (build or pull it, then up)")
            continue
        repository, image_tag = registry_target(registry, image)
        published.pins[image] = pinned_reference(repository, image_tag, push(client, image, repository, image_tag))
        say(f"pushed {image} as {published.pins[image]}")
    say(f"{len(published.digests) + len(published.pins)} images in {registry} ({time.monotonic() - started:.0f} s)")
    return published
