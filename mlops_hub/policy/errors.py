"""Errors that policy raises for a person to read."""

from __future__ import annotations

from collections.abc import Collection, Mapping


class ConfigError(ValueError):
    """Admin configuration that cannot work; the message names the setting."""


def checked_mapping(where: str, raw: object, allowed: Collection[str], expected: str) -> Mapping:
    """`raw` as a mapping holding only `allowed` keys; otherwise ConfigError naming `where`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {expected}")
    unknown = set(raw) - set(allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return raw


class SpawnOptionError(ValueError):
    """A spawn option is wrong: names the field and what is allowed (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PolicyRefusal(Exception):
    """The request is well-formed but this user may not have it (HTTP 403)."""
