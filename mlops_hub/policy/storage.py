"""Per-user home, per-role team folders and read-only datasets: names, paths and volume options.

Pure: turns the `storage` setting, a user name and their roles into volume mounts (as data);
mlops_hub.swarm turns them into Docker mounts. Backends:
- `nfs`: Docker's `local` driver with `type=nfs` (each node mounts the export itself);
- `local`: plain named volumes on the node (single-node swarms, or servers pinned to one node).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import ConfigError, checked_mapping

SETTING = "storage"
BACKENDS = ("local", "nfs")
_KEYS = {"backend", "home_mount", "team_mount", "datasets_mount", "owner", "nfs", "roles"}
_NFS_KEYS = {"server", "export", "options"}
_ROLE_KEYS = {"team", "datasets"}
_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")  # no ',' or '=': they would add mount options
_EXPORT_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+/?$")
_OPTIONS_RE = re.compile(r"^[A-Za-z0-9=._-]+(,[A-Za-z0-9=._-]+)*$")
_DATASET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_OWNER_RE = re.compile(r"^[0-9]+(:[0-9]+)?$")
_SLUG_MAX = 32
_HASH_HEX = 16  # 64 bits: a chosen name cannot be made to share another user's folder


def safe_name(name: str) -> str:
    """A folder/volume name for a user or role: a readable slug plus a hash of the exact name.

    Only [a-z0-9-], never empty, '.', '..' or a path separator; two different names (even
    'a.b' and 'a_b', or names equal after lower-casing) never give the same result.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX].rstrip("-") or "x"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return f"{slug}-{digest}"


def _options_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class NfsSettings:
    server: str
    export: str
    options: str = "nfsvers=4,hard"


@dataclass(frozen=True)
class RoleStorage:
    team: bool = False
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeMount:
    """One volume for one server; `driver_options` None means a plain local named volume."""

    kind: str  # home, team, datasets
    source: str  # the Docker volume name
    target: str  # the path in the container
    read_only: bool = False
    driver_options: Mapping[str, str] | None = None


@dataclass(frozen=True)
class StorageConfig:
    backend: str
    home_mount: str = "/home/jovyan"
    team_mount: str = "/home/jovyan/teams"
    datasets_mount: str = "/home/jovyan/datasets"
    owner: tuple[int, int] | None = None  # None: the server's own uid:gid
    nfs: NfsSettings | None = None
    roles: Mapping[str, RoleStorage] = field(default_factory=dict)

    def _volume(self, prefix: str, kind: str, name: str, nfs_path: str, target: str, ro: bool) -> VolumeMount:
        if self.backend == "local":
            return VolumeMount(kind, f"{prefix}-{kind}-{name}", target, ro)
        assert self.nfs is not None
        options = f"addr={self.nfs.server},{self.nfs.options}" + (",ro" if ro else "")
        device = f":{self.nfs.export.rstrip('/')}/{nfs_path}"
        # Docker reuses a volume by name whatever its options: the name carries their hash
        tag = _options_hash(options, device)
        return VolumeMount(kind, f"{prefix}-nfs-{kind}-{name}-{tag}", target, ro,
                           {"type": "nfs", "o": options, "device": device})

    def mounts(self, prefix: str, username: str, roles: Iterable[str]) -> list[VolumeMount]:
        """Home for the user, plus team folders and datasets of each of their roles."""
        home = safe_name(username)
        mounts = [self._volume(prefix, "home", home, f"home/{home}", self.home_mount, False)]
        datasets: list[str] = []
        for role in sorted(set(roles)):
            rs = self.roles.get(role)
            if rs is None:
                continue
            if rs.team:
                team = safe_name(role)
                mounts.append(self._volume(prefix, "team", team, f"teams/{team}",
                                           f"{self.team_mount}/{role_folder(role)}", False))
            datasets += [d for d in rs.datasets if d not in datasets]
        for name in datasets:
            mounts.append(self._volume(prefix, "datasets", name, f"datasets/{name}",
                                       f"{self.datasets_mount}/{name}", True))
        return mounts


def role_folder(role: str) -> str:
    """The folder name users see for a team: the role itself when it is already a safe slug."""
    return role if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", role) else safe_name(role)


def parse_owner(where: str, value: object) -> tuple[int, int]:
    """'uid[:gid]' -> (uid, gid); a lone uid keeps gid 0 (files are 0400/0700 to the owner)."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _OWNER_RE.match(text):
        raise ConfigError(f"{where}: expected numeric 'uid:gid' (e.g. '1000:100'), got {value!r}")
    uid, _, gid = text.partition(":")
    return int(uid), int(gid or 0)


def _abs_path(where: str, value: object) -> str:
    if not isinstance(value, str) or not _EXPORT_RE.match(value) or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise ConfigError(f"{where}: expected an absolute path of [A-Za-z0-9._-] parts, got {value!r}")
    return value.rstrip("/")


def _nfs(raw: object) -> NfsSettings:
    where = f"{SETTING}.nfs"
    raw = checked_mapping(where, raw, _NFS_KEYS, "required for backend 'nfs': {server, export, options}")
    server = raw.get("server")
    if not isinstance(server, str) or not _HOST_RE.match(server):
        raise ConfigError(f"{where}.server: expected a host name or IP address, got {server!r}")
    export = _abs_path(f"{where}.export", raw.get("export"))
    options = raw.get("options", NfsSettings.options)
    if not isinstance(options, str) or not _OPTIONS_RE.match(options) or "addr=" in options:
        raise ConfigError(f"{where}.options: expected comma-separated mount options (addr= is set from"
                          f" server), got {options!r}")
    return NfsSettings(server, export, options)


def _role(role: str, raw: object) -> RoleStorage:
    where = f"{SETTING}.roles[{role!r}]"
    raw = checked_mapping(where, raw, _ROLE_KEYS, f"expected a mapping with {sorted(_ROLE_KEYS)}")
    datasets = raw.get("datasets") or []
    if isinstance(datasets, str) or not isinstance(datasets, Iterable):
        raise ConfigError(f"{where}.datasets: expected a list of dataset folder names")
    for name in datasets:
        if not isinstance(name, str) or not _DATASET_RE.match(name) or name in (".", ".."):
            raise ConfigError(f"{where}.datasets: {name!r} is not a folder name ([a-z0-9._-])")
    return RoleStorage(team=bool(raw.get("team", False)), datasets=tuple(datasets))


def storage_from_config(raw: Mapping | None) -> StorageConfig | None:
    """Parse `storage` (None or empty: no volumes); ConfigError names the setting."""
    if not raw:
        return None
    raw = checked_mapping(SETTING, raw, _KEYS, "expected a mapping")
    backend = raw.get("backend")
    if backend not in BACKENDS:
        raise ConfigError(f"{SETTING}.backend: expected one of {list(BACKENDS)}, got {backend!r}")
    paths = {key: _abs_path(f"{SETTING}.{key}", raw.get(key, getattr(StorageConfig, key)))
             for key in ("home_mount", "team_mount", "datasets_mount")}
    owner = parse_owner(f"{SETTING}.owner", raw["owner"]) if raw.get("owner") is not None else None
    roles_raw = raw.get("roles") or {}
    if not isinstance(roles_raw, Mapping):
        raise ConfigError(f"{SETTING}.roles: expected a mapping of role -> {{team, datasets}}")
    return StorageConfig(
        backend=backend,
        owner=owner,
        nfs=_nfs(raw.get("nfs")) if backend == "nfs" else None,
        roles={role: _role(role, spec) for role, spec in roles_raw.items()},
        **paths,
    )
