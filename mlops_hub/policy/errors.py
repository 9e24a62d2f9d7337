"""Errors that policy raises for a person to read."""


class SpawnOptionError(ValueError):
    """A spawn option is wrong: names the field and what is allowed (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PolicyRefusal(Exception):
    """The request is well-formed but this user may not have it (HTTP 403)."""
