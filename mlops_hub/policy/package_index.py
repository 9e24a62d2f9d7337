"""Package index settings (an Artifactory PyPI/conda repo) and the files a user server gets.

Pure: the spawner reads the password and CA files and passes their content in; this module
parses `package_index`, picks the settings for a role, and renders pip.conf, uv.toml, .condarc
(non-secret, delivered as Swarm configs) and .netrc (the credentials, a Swarm secret). The
server's environment only carries the PATHS of these files, never their content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError, checked_mapping

SETTING = "package_index"
CONFIG_DIR = "/etc/mlops-hub"
SECRET_TARGET = "mlops-hub-netrc"  # Swarm puts secrets under /run/secrets
NETRC_PATH = f"/run/secrets/{SECRET_TARGET}"
_KEYS = {"enabled", "index_url", "extra_index_urls", "trusted_hosts", "username", "password",
         "password_file", "ca_bundle_file", "ca_include_system_roots", "conda", "roles"}
_CONDA_KEYS = {"channel_alias", "channels", "custom_channels"}


@dataclass(frozen=True)
class CondaSettings:
    channel_alias: str | None = None
    channels: tuple[str, ...] = ()
    custom_channels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class IndexSettings:
    """The index settings that apply to one server (base settings merged with its role's)."""

    index_url: str
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    username: str | None = None
    password_file: str | None = None
    ca_bundle_file: str | None = None
    ca_include_system_roots: bool = True
    conda: CondaSettings = CondaSettings()

    @property
    def has_credentials(self) -> bool:
        return self.username is not None

    def hosts(self) -> list[str]:
        """Every host that gets the credentials (index, extra indexes, conda channels)."""
        urls = [self.index_url, *self.extra_index_urls, *(u for _, u in self.conda.custom_channels)]
        if self.conda.channel_alias:
            urls.append(self.conda.channel_alias)
        return list(dict.fromkeys(urlsplit(u).hostname for u in urls if urlsplit(u).hostname))


@dataclass(frozen=True)
class PackageIndexConfig:
    """The parsed `package_index` setting: base settings plus per-role overrides."""

    base: IndexSettings | None
    roles: Mapping[str, IndexSettings | None] = field(default_factory=dict)

    def for_role(self, role: str | None) -> IndexSettings | None:
        """None means: inject nothing (no setting, or disabled for this role)."""
        if role is not None and role in self.roles:
            return self.roles[role]
        return self.base


def _str_list(where: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _check_url(where: str, url: object, trusted: Iterable[str]) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: required (an http(s) URL, e.g. https://artifactory/api/pypi/pypi/simple)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: expected an http(s) URL with a host, got {url[:80]!r}")
    if parts.username or parts.password:
        # a URL shows up in logs, pip output and `pip config list`: credentials go in .netrc
        raise ConfigError(f"{where}: must not contain credentials; use username and password_file")
    if parts.scheme == "http" and parts.hostname not in trusted:
        raise ConfigError(f"{where}: plain http needs {parts.hostname!r} in trusted_hosts")
    return url


def _check_netrc_token(where: str, value: str) -> None:
    # .netrc separates tokens by whitespace: such a value would be cut, silently
    if not value or any(ch.isspace() for ch in value) or '"' in value:
        raise ConfigError(f"{where}: must be non-empty, without spaces or quotes")


def _conda(where: str, raw: object, trusted: Iterable[str]) -> CondaSettings:
    if raw is None:
        return CondaSettings()
    raw = checked_mapping(where, raw, _CONDA_KEYS, f"expected a mapping with {sorted(_CONDA_KEYS)}")
    alias = raw.get("channel_alias")
    if alias is not None:
        _check_url(f"{where}.channel_alias", alias, trusted)
    custom = raw.get("custom_channels") or {}
    if not isinstance(custom, Mapping):
        raise ConfigError(f"{where}.custom_channels: expected a mapping of channel name -> URL")
    pairs = tuple(sorted((str(k), _check_url(f"{where}.custom_channels[{k!r}]", v, trusted))
                         for k, v in custom.items()))
    return CondaSettings(alias, _str_list(f"{where}.channels", raw.get("channels")), pairs)


def _settings(where: str, raw: Mapping) -> IndexSettings | None:
    raw = checked_mapping(where, raw, _KEYS - {"roles"}, "expected a mapping")
    if not raw.get("enabled", True):
        return None
    trusted = _str_list(f"{where}.trusted_hosts", raw.get("trusted_hosts"))
    index_url = _check_url(f"{where}.index_url", raw.get("index_url"), trusted)
    extra = _str_list(f"{where}.extra_index_urls", raw.get("extra_index_urls"))
    for i, url in enumerate(extra):
        _check_url(f"{where}.extra_index_urls[{i}]", url, trusted)
    if "password" in raw:
        # platform.yaml is deployed as a Swarm config: anyone with Docker API access can read it
        raise ConfigError(f"{where}.password: an inline password is refused (platform.yaml is a Swarm config"
                          " that anyone with Docker API access can read); put it in a file on the hub"
                          f" (a Swarm secret) and set {where}.password_file to its path")
    username, password_file = raw.get("username"), raw.get("password_file")
    if username is not None:
        _check_netrc_token(f"{where}.username", str(username) if isinstance(username, str) else "")
        if password_file is None:
            raise ConfigError(f"{where}: with username, set password_file (the path of a file on the hub)")
        if not isinstance(password_file, str) or not password_file.startswith("/"):
            raise ConfigError(f"{where}.password_file: expected an absolute path on the hub")
    elif password_file is not None:
        raise ConfigError(f"{where}: password_file given without username")
    ca = raw.get("ca_bundle_file")
    if ca is not None and (not isinstance(ca, str) or not ca.startswith("/")):
        raise ConfigError(f"{where}.ca_bundle_file: expected an absolute path on the hub")
    return IndexSettings(
        index_url=index_url,
        extra_index_urls=extra,
        trusted_hosts=trusted,
        username=username,
        password_file=password_file,
        ca_bundle_file=ca,
        ca_include_system_roots=bool(raw.get("ca_include_system_roots", True)),
        conda=_conda(f"{where}.conda", raw.get("conda"), trusted),
    )


def package_index_from_config(raw: Mapping | None) -> PackageIndexConfig:
    """Parse `package_index`; ConfigError names the setting. A role's mapping overrides base keys."""
    if not raw:
        return PackageIndexConfig(None)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{SETTING}: expected a mapping")
    base_raw = {k: v for k, v in raw.items() if k != "roles"}
    base = _settings(SETTING, base_raw) if base_raw else None
    roles_raw = raw.get("roles") or {}
    if not isinstance(roles_raw, Mapping):
        raise ConfigError(f"{SETTING}.roles: expected a mapping of role -> settings")
    roles: dict[str, IndexSettings | None] = {}
    for role, override in roles_raw.items():
        where = f"{SETTING}.roles[{role!r}]"
        if override is None:
            roles[role] = None  # explicit null: no injection for this role
            continue
        if not isinstance(override, Mapping):
            raise ConfigError(f"{where}: expected a mapping of settings, or null for none")
        if "roles" in override:
            raise ConfigError(f"{where}: roles cannot be nested")
        merged = {**base_raw, **override}
        if "username" in override and "password_file" not in override:
            # a team's own account never inherits the site account's password
            merged.pop("password_file", None)
        roles[role] = _settings(where, merged)
    return PackageIndexConfig(base, roles)


# ---- rendering ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveredFile:
    """One file for the server: a Swarm config (secret=False) or Swarm secret (secret=True)."""

    key: str  # short kind, part of the Swarm object name: pip-conf, uv-toml, condarc, ca, netrc
    target: str  # path in the container (for secrets: the name under /run/secrets)
    content: bytes = field(repr=False)
    secret: bool = False

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content).hexdigest()[:16]

    def object_name(self, prefix: str) -> str:
        """Content-addressed: a changed setting gives a new object; running servers keep theirs."""
        return f"{prefix}-{self.key}-{self.content_hash}"


@dataclass(frozen=True)
class Delivery:
    files: tuple[DeliveredFile, ...]
    env: dict[str, str]  # paths only


def _multi(values: Iterable[str]) -> str:
    return "\n    ".join(values)


def render_pip_conf(s: IndexSettings, ca_path: str | None) -> str:
    lines = ["[global]", f"index-url = {s.index_url}"]
    if s.extra_index_urls:
        lines.append(f"extra-index-url = {_multi(s.extra_index_urls)}")
    if s.trusted_hosts:
        lines.append(f"trusted-host = {_multi(s.trusted_hosts)}")
    if ca_path:
        lines.append(f"cert = {ca_path}")
    return "\n".join(lines) + "\n"


def render_uv_toml(s: IndexSettings) -> str:
    # json.dumps writes a valid TOML basic string (escapes quotes and backslashes)
    lines = []
    if s.trusted_hosts:
        lines.append(f"allow-insecure-host = [{', '.join(json.dumps(h) for h in s.trusted_hosts)}]")
    for i, url in enumerate(s.extra_index_urls):
        lines += ["", "[[index]]", f'name = "extra-{i}"', f"url = {json.dumps(url)}"]
    lines += ["", "[[index]]", 'name = "default"', f"url = {json.dumps(s.index_url)}", "default = true"]
    return "\n".join(lines).lstrip("\n") + "\n"


def render_condarc(s: IndexSettings, ca_path: str | None) -> str:
    data: dict[str, object] = {}
    if s.conda.channel_alias:
        data["channel_alias"] = s.conda.channel_alias
    if s.conda.channels:
        data["channels"] = list(s.conda.channels)
    if s.conda.custom_channels:
        data["custom_channels"] = dict(s.conda.custom_channels)
    if ca_path:
        data["ssl_verify"] = ca_path
    return yaml.safe_dump(data, sort_keys=True)


def render_netrc(s: IndexSettings, password: str) -> str:
    _check_netrc_token(f"{SETTING}.password_file (content)", password)
    return "".join(f"machine {host}\nlogin {s.username}\npassword {password}\n\n" for host in s.hosts())


def render_ca_bundle(admin_ca: bytes, system_roots: bytes | None) -> bytes:
    """The admin's CA after the public roots, so public and internal sites both verify."""
    parts = [p.strip() + b"\n" for p in (system_roots, admin_ca) if p and p.strip()]
    return b"".join(parts)


def check_ca_bundle(content: bytes) -> None:
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise ConfigError(f"{SETTING}.ca_bundle_file: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")


def render_delivery(s: IndexSettings, password: str | None = None, ca_bundle: bytes | None = None) -> Delivery:
    """The files and the path-only environment for one server.

    `password`: the credential (read by the caller from password_file or password);
    `ca_bundle`: the full bundle to deliver (see render_ca_bundle), or None.
    """
    ca_path = f"{CONFIG_DIR}/ca-bundle.pem" if ca_bundle else None
    files = [
        DeliveredFile("pip-conf", f"{CONFIG_DIR}/pip.conf", render_pip_conf(s, ca_path).encode()),
        DeliveredFile("uv-toml", f"{CONFIG_DIR}/uv.toml", render_uv_toml(s).encode()),
        DeliveredFile("condarc", f"{CONFIG_DIR}/condarc", render_condarc(s, ca_path).encode()),
    ]
    env = {
        "PIP_CONFIG_FILE": f"{CONFIG_DIR}/pip.conf",
        "UV_CONFIG_FILE": f"{CONFIG_DIR}/uv.toml",
        "CONDARC": f"{CONFIG_DIR}/condarc",
    }
    if ca_bundle:
        check_ca_bundle(ca_bundle)
        files.append(DeliveredFile("ca", ca_path, ca_bundle))
        env.update(SSL_CERT_FILE=ca_path, REQUESTS_CA_BUNDLE=ca_path, PIP_CERT=ca_path)
    if s.has_credentials:
        if password is None:
            raise ConfigError(f"{SETTING}: username is set but no password was read")
        files.append(DeliveredFile("netrc", SECRET_TARGET, render_netrc(s, password).encode(), secret=True))
        env["NETRC"] = NETRC_PATH
    return Delivery(tuple(files), env)
