"""Image references pinned by digest: where a local image goes in a registry, and the pins the hub spawns from.

A pin maps an image name as platform.yaml writes it (mlops-hub/lab-base:latest) to the registry reference every
node pulls (10.0.0.5:5000/mlops-hub/lab-base:latest@sha256:...). A reference with a digest is never pulled
again on a node that has it, and every node that pulls it gets the same bits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from .errors import ConfigError

PINS_VARIABLE = "MLOPS_IMAGE_PINS"  # the hub's environment: JSON {image as configured: pinned reference}
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def from_a_registry(image: str) -> bool:
    """Whether other nodes can pull `image`: its name starts with a registry host (docker's rule: the first
    component has a '.' or a ':', or is localhost). A bare local name (mlops-hub/lab-base:1) exists only on the
    node that built it, and pulling it elsewhere would ask Docker Hub."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def split_reference(image: str) -> tuple[str, str]:
    """(repository, tag) of a reference without a digest; the tag defaults to latest, as docker's does."""
    name = image.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag: the colon (if any) was a registry's port
        return name, "latest"
    return repository, tag


def registry_target(registry: str, image: str) -> tuple[str, str]:
    """(repository, tag) a local image is pushed as: the registry path and the image's last name component
    (mlops-hub/env-r:1 -> <registry>/env-r:1), as the platform's own images are <registry>/<name>:<tag>."""
    repository, tag = split_reference(image)
    return f"{registry.rstrip('/')}/{repository.rsplit('/', 1)[-1]}", tag


def pinned_reference(repository: str, tag: str, digest: str) -> str:
    if not _DIGEST.match(digest):
        raise ValueError(f"not an image digest: {digest!r}")
    return f"{repository}:{tag}@{digest}"


def digest_variable(name: str) -> str:
    """The stack file's variable that appends a platform image's digest (hub -> MLOPS_DIGEST_HUB)."""
    return "MLOPS_DIGEST_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def colliding_targets(registry: str, images: Iterable[str]) -> str | None:
    """Two different local images that would be pushed to one registry name: a message naming both."""
    seen: dict[tuple[str, str], str] = {}
    for image in images:
        target = registry_target(registry, image)
        if target in seen and seen[target] != image:
            return (f"{seen[target]} and {image} would both be pushed as {target[0]}:{target[1]}; give one of"
                    " them another name or tag in platform.yaml")
        seen[target] = image
    return None


# host[:port]/path in a registry: lowercase path components (docker's rule), no scheme, tag or digest
_REGISTRY_PATH = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")


def registry_flags_error(registry: str | None, no_registry: bool) -> str | None:
    """Why `up`'s registry flags cannot be used together or as given; None when they can."""
    if registry and no_registry:
        return "--registry and --no-registry: choose one (MLOPS_REGISTRY counts as --registry)"
    if registry and (not _REGISTRY_PATH.match(registry) or not from_a_registry(registry)):
        return (f"--registry (or MLOPS_REGISTRY): {registry[:80]!r} is not a registry path; expected HOST[:PORT]/PATH"
                " with a host other nodes reach (e.g. artifactory.example.com/docker/mlops-hub), no https://, tag"
                " or digest")
    return None


def parse_pins(text: str) -> dict[str, str]:
    """MLOPS_IMAGE_PINS as `up` writes it; '' is no pins. A malformed value names the variable."""
    if not text.strip():
        return {}
    try:
        pins = json.loads(text)
    except ValueError as e:
        raise ConfigError(PINS_VARIABLE, f"expected a JSON object of image -> pinned reference ({e})") from None
    if not isinstance(pins, dict) or not all(isinstance(k, str) and isinstance(v, str) and "@sha256:" in v
                                             for k, v in pins.items()):
        raise ConfigError(PINS_VARIABLE, "expected a JSON object of image -> reference with an @sha256: digest")
    return pins


def pin(image: str, pins: Mapping[str, str]) -> str:
    """The reference a service runs for `image`: its pin, else the image as configured."""
    return pins.get(image, image)
