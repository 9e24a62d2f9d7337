"""The environment catalogue: which images users may start, under which names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ConfigError, checked_mapping
from .placement import parse_node_labels
from .units import DEFAULT_ENV_MIN_MEM, MIN_MEM, QuantityError, format_memory, parse_cpu, parse_memory

SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_KEYS = {"slug", "display_name", "description", "image", "default_cpu", "default_mem",
             "min_mem", "roles", "default", "build", "node_labels"}


@dataclass(frozen=True)
class Environment:
    slug: str
    display_name: str
    image: str
    description: str = ""
    default_cpu: float | None = None
    default_mem: int | None = None
    # None: every role may use it; otherwise only these roles
    roles: frozenset[str] | None = None
    default: bool = False
    # the least memory a server of this image runs in (docs/configuration.md, "Minimum memory")
    min_mem: int = DEFAULT_ENV_MIN_MEM
    # the folder `mlops-hub build` builds `image` from (a Dockerfile FROM the lab image), relative to
    # platform.yaml's folder; None: the image is built or pulled elsewhere
    build: str | None = None
    # node labels its servers need ((key, value), ...): Swarm places them only on nodes that have them all
    node_labels: tuple[tuple[str, str], ...] = ()

    def allows_role(self, role: str) -> bool:
        return self.roles is None or role in self.roles


def _environment_from_config(index: int, raw: object) -> Environment:
    where = f"environments[{index}]"
    raw = checked_mapping(where, raw, _ENV_KEYS, "expected a mapping with slug, display_name, image")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ConfigError(f"{where}.slug", f"must be lowercase letters, digits and '-', got {slug!r}")
    image = raw.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ConfigError(f"{where}.image", "required (a Docker image reference)")
    build = raw.get("build")
    if build is not None and (not isinstance(build, str) or not build.strip()):
        raise ConfigError(f"{where}.build", "expected a folder with a Dockerfile, relative to platform.yaml")
    if build is not None and "@" in image:
        raise ConfigError(f"{where}.image", f"{image!r} is a digest; an image `build` makes needs a name[:tag]")
    roles = raw.get("roles")
    if roles is not None:
        if isinstance(roles, str) or not isinstance(roles, Iterable):
            raise ConfigError(f"{where}.roles", "expected a list of role names")
        roles = frozenset(roles)
    sizes = {}
    for key, parse in (("default_cpu", parse_cpu), ("default_mem", parse_memory), ("min_mem", parse_memory)):
        try:
            sizes[key] = parse(raw[key]) if raw.get(key) is not None else None
        except QuantityError as e:
            raise ConfigError(f"{where}.{key}", str(e)) from None
    default_cpu, default_mem = sizes["default_cpu"], sizes["default_mem"]
    min_mem = DEFAULT_ENV_MIN_MEM if sizes["min_mem"] is None else sizes["min_mem"]
    if min_mem < MIN_MEM:
        raise ConfigError(f"{where}.min_mem", f"must be at least {format_memory(MIN_MEM)}")
    if default_mem is not None and default_mem < min_mem:
        raise ConfigError(f"{where}.default_mem",
                          f"{format_memory(default_mem)} is below the environment's min_mem {format_memory(min_mem)}")
    return Environment(
        slug=slug,
        display_name=str(raw.get("display_name") or slug),
        image=image,
        description=str(raw.get("description") or ""),
        default_cpu=default_cpu,
        default_mem=default_mem,
        roles=roles,
        default=bool(raw.get("default", False)),
        min_mem=min_mem,
        build=build,
        node_labels=parse_node_labels(f"{where}.node_labels", raw.get("node_labels")),
    )


class EnvironmentCatalogue:
    """The admin's list of environments, in the order the form shows them."""

    def __init__(self, environments: Iterable[Environment]) -> None:
        self._by_slug: dict[str, Environment] = {}
        for env in environments:
            if env.slug in self._by_slug:
                raise ConfigError("environments", f"slug {env.slug!r} is defined twice")
            self._by_slug[env.slug] = env

    @classmethod
    def from_config(cls, raw: Iterable[object]) -> EnvironmentCatalogue:
        return cls(_environment_from_config(i, item) for i, item in enumerate(raw))

    def __iter__(self):
        return iter(self._by_slug.values())

    def __len__(self) -> int:
        return len(self._by_slug)

    def get(self, slug: str) -> Environment | None:
        return self._by_slug.get(slug)

    @property
    def slugs(self) -> list[str]:
        return list(self._by_slug)

    def for_role(self, role: str, allowed: frozenset[str] | None) -> list[Environment]:
        """Environments a role may start: its own list (None: all) and each environment's `roles`."""
        return [e for e in self if (allowed is None or e.slug in allowed) and e.allows_role(role)]
