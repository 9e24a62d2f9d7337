"""The environment catalogue: which images users may start, under which names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ConfigError, checked_mapping
from .units import QuantityError, parse_cpu, parse_memory

__all__ = ["ConfigError", "Environment", "EnvironmentCatalogue"]  # ConfigError: imported from here too

SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_KEYS = {"slug", "display_name", "description", "image", "default_cpu", "default_mem",
             "roles", "default"}


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
    min_mem: int | None = None  # smallest memory limit its server runs in; None: the measured default

    def allows_role(self, role: str) -> bool:
        return self.roles is None or role in self.roles


def _environment_from_config(index: int, raw: object) -> Environment:
    where = f"environments[{index}]"
    raw = checked_mapping(where, raw, _ENV_KEYS, "expected a mapping with slug, display_name, image")
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ConfigError(f"{where}.slug: must be lowercase letters, digits and '-', got {slug!r}")
    image = raw.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ConfigError(f"{where}.image: required (a Docker image reference)")
    roles = raw.get("roles")
    if roles is not None:
        if isinstance(roles, str) or not isinstance(roles, Iterable):
            raise ConfigError(f"{where}.roles: expected a list of role names")
        roles = frozenset(roles)
    sizes = {}
    for key, parse in (("default_cpu", parse_cpu), ("default_mem", parse_memory)):
        try:
            sizes[key] = parse(raw[key]) if raw.get(key) is not None else None
        except QuantityError as e:
            raise ConfigError(f"{where}.{key}: {e}") from None
    default_cpu, default_mem = sizes["default_cpu"], sizes["default_mem"]
    return Environment(
        slug=slug,
        display_name=str(raw.get("display_name") or slug),
        image=image,
        description=str(raw.get("description") or ""),
        default_cpu=default_cpu,
        default_mem=default_mem,
        roles=roles,
        default=bool(raw.get("default", False)),
    )


class EnvironmentCatalogue:
    """The admin's list of environments, in the order the form shows them."""

    def __init__(self, environments: Iterable[Environment]) -> None:
        self._by_slug: dict[str, Environment] = {}
        for env in environments:
            if env.slug in self._by_slug:
                raise ConfigError(f"environments: slug {env.slug!r} is defined twice")
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
