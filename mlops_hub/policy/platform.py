"""The platform's settings, parsed and checked once: environments, roles, package index, storage.

`platform_policy(...)` parses a spawner's settings into a PlatformPolicy and caches it by content,
so every spawner of a hub shares one parse and a changed setting is parsed again.
`load_platform_file(...)` is what `mlops-hub up` runs on platform.yaml before building anything; the
hub runs the same parse on its merged settings at start-up (mlops_hub.hub.config). Every error names
the file and the key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .culler import SECTION as CULLER_SECTION
from .culler import culler_from_config
from .environments import Environment, EnvironmentCatalogue
from .errors import ConfigError
from .package_index import PackageIndexConfig, package_index_from_config
from .placement import NodeRequirement, requirements, split_node_pools
from .roles import DEFAULT_ROLE, RolePolicy, role_policies_from_config
from .storage import StorageConfig, storage_from_config

FRACTION_SETTINGS = ("cpu_guarantee_fraction", "mem_guarantee_fraction")
# platform.yaml sections: our spawner's settings, and plain SwarmSpawner's (for side-by-side benchmarks)
SPAWNER_SECTIONS = ("spawner", "swarm_spawner")
# ... and when idle servers stop (mlops_hub.policy.culler)
SECTIONS = (*SPAWNER_SECTIONS, CULLER_SECTION)


@dataclass(frozen=True)
class PlatformPolicy:
    """Everything a spawn asks of the configuration, parsed once."""

    catalogue: EnvironmentCatalogue
    # the configured roles: what the quota store is seeded with, or the policy itself without a store
    roles: Mapping[str, RolePolicy]
    package_index: PackageIndexConfig
    storage: StorageConfig | None
    # role -> the node pool its servers run in (platform.yaml's `node_pool`); not part of the quota document
    node_pools: Mapping[str, str] = field(default_factory=dict)

    def node_requirements(self, environment: Environment, role: str | None) -> list[NodeRequirement]:
        """The node labels a server of `environment` started under `role` needs (the role a spawn is charged
        to, policy.request.charged_role, decides its pool)."""
        return requirements(environment.display_name, environment.node_labels, role,
                            self.node_pools.get(role) if role else None)

    @property
    def role_documents(self) -> dict[str, dict]:
        return {name: policy.document() for name, policy in self.roles.items()}


def platform_policy(
    environments: list,
    role_policies: Mapping,
    package_index: Mapping | None = None,
    storage: Mapping | None = None,
    *,
    image: str = "",
    fallback_cpu: float | None = None,
    fallback_mem: int | None = None,
) -> PlatformPolicy:
    """The parsed settings (cached by content); ConfigError names the setting and key."""
    key = json.dumps([environments, role_policies, package_index or {}, storage or {}, image, fallback_cpu,
                      fallback_mem], sort_keys=True, default=_unjsonable)
    return _parse(key)


def _unjsonable(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str)
    raise ConfigError(f"expected plain settings (lists, mappings, strings, numbers), got {type(value).__name__}")


@lru_cache(maxsize=16)
def _parse(key: str) -> PlatformPolicy:
    environments, role_policies, package_index, storage, image, fallback_cpu, fallback_mem = json.loads(key)
    if environments:
        catalogue = EnvironmentCatalogue.from_config(environments)
    else:
        # role limits without a catalogue: the one environment is dockerspawner's `image`
        catalogue = EnvironmentCatalogue([Environment("default", image, image, default=True)])
    role_policies, node_pools = split_node_pools(role_policies)
    if role_policies:
        roles = role_policies_from_config(role_policies, catalogue)
    else:
        # environments without roles: everyone shares one role bounded by the hub's limits
        roles = {DEFAULT_ROLE: RolePolicy(DEFAULT_ROLE, fallback_cpu or 1.0, fallback_mem or 2 * 1024**3)}
    return PlatformPolicy(catalogue, roles, package_index_from_config(package_index), storage_from_config(storage),
                          node_pools)


def check_spawner_settings(settings: Mapping, known: Collection[str] | None = None) -> PlatformPolicy:
    """Check one spawner section (the keys of platform.yaml's `spawner`, or a config section)."""
    if not isinstance(settings, Mapping):
        raise ConfigError("", "expected a mapping of spawner settings")
    if known is not None:
        unknown = sorted(str(k) for k in settings if k not in known)
        if unknown:
            raise ConfigError(unknown[0], "not a setting of the spawner; see docs/configuration.md")
    for name in FRACTION_SETTINGS:
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value <= 1):
            raise ConfigError(name, f"must be a number in (0, 1], got {value!r}")
    return platform_policy(
        list(settings.get("environments") or []), dict(settings.get("role_policies") or {}),
        settings.get("package_index"), settings.get("storage"), image=str(settings.get("image") or ""),
    )


def load_platform_file(path: Path, known: Collection[str] | None = None, check: bool = True) -> dict:
    """platform.yaml as a mapping; ConfigError's message starts with the file and the key.

    check=False reads the YAML and its sections only, for a caller that checks the settings once
    merged with others (the hub: platform.yaml plus jupyterhub_config.py).
    """
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        if check:
            check_platform_document(document, known)
        else:
            check_sections(document)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return document


def check_sections(document: object) -> None:
    if not isinstance(document, Mapping):
        raise ConfigError("", f"expected a mapping with the sections {', '.join(SECTIONS)}")
    unknown = sorted(str(k) for k in document if k not in SECTIONS)
    if unknown:
        raise ConfigError(unknown[0], f"unknown section; allowed: {', '.join(SECTIONS)}")
    for name in SPAWNER_SECTIONS:
        if not isinstance(document.get(name) or {}, Mapping):
            raise ConfigError(name, "expected a mapping of spawner settings")


def check_platform_document(document: object, known: Collection[str] | None = None) -> None:
    """The whole file on its own, as the stack's hub will see it (`mlops-hub up`)."""
    check_sections(document)
    culler_from_config(document.get(CULLER_SECTION))
    try:
        check_spawner_settings(document.get("spawner") or {}, known)
    except ConfigError as e:
        raise e.within("spawner") from None
