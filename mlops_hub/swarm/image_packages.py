"""The main packages of environment images, read from their labels on this node (for the spawn form)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from docker.errors import ImageNotFound

from ..policy.image_labels import packages_from_labels

Packages = tuple[tuple[str, str], ...]
_reported: set[str] = set()  # images whose missing packages were logged once already (the hub's event loop)


async def _packages_of(docker_call: Callable[..., Awaitable], image: str, log) -> Packages:
    try:
        info = await docker_call("inspect_image", image)
    except ImageNotFound:
        if image not in _reported:
            _reported.add(image)
            log.debug("image %s is not on this node: the spawn form lists no packages for it", image)
        return ()
    except Exception as e:  # the form must render whatever Docker answers
        if image not in _reported:
            _reported.add(image)
            log.warning("could not read the packages of image %s for the spawn form: %s", image, e)
        return ()
    return packages_from_labels((info.get("Config") or {}).get("Labels"))


async def image_packages(docker_call: Callable[..., Awaitable], images: Iterable[str], log) -> dict[str, Packages]:
    """image -> its (name, version) packages; () for an image that is not here or has no label."""
    unique = list(dict.fromkeys(images))
    found = await asyncio.gather(*(_packages_of(docker_call, image, log) for image in unique))
    return dict(zip(unique, found, strict=True))
