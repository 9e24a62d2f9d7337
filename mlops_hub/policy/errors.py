"""Errors that policy raises for a person to read: each names the field and what is allowed."""

from __future__ import annotations

from collections.abc import Collection, Mapping


class FieldError(ValueError):
    """A value that cannot be used; `field` names it, `message` says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def within(self, where: str):
        """The same error, its field named inside `where` (e.g. role_policies['x'])."""
        return type(self)(f"{where}.{self.field}" if self.field else where, self.message)


class ConfigError(FieldError):
    """Configuration (platform.yaml, a role document, a setting) that cannot work.

    `ConfigError("message")` is accepted for errors that name their setting in the text.
    """

    def __init__(self, field: str, message: str | None = None) -> None:
        if message is None:
            field, message = "", field
        super().__init__(field, message)


class SpawnOptionError(FieldError):
    """A spawn option is wrong: names the field and what is allowed (HTTP 400)."""


class PolicyRefusal(Exception):
    """The request is well-formed but this user may not have it (HTTP 403)."""


def checked_mapping(where: str, raw: object, allowed: Collection[str], expected: str) -> Mapping:
    """`raw` as a mapping holding only `allowed` keys; otherwise ConfigError naming `where`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(where, expected)
    unknown = sorted(str(k)[:40] for k in raw if k not in allowed)
    if unknown:
        raise ConfigError(where, f"unknown keys {unknown}; allowed: {sorted(allowed)}")
    return raw
