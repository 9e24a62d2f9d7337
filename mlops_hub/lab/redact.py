"""Credentials out of URLs and of free text (git's messages echo remote URLs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# userinfo inside any URL-looking text
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def strip_userinfo(url: str) -> str:
    """Return `url` without `user:password@`; scp-like `git@host:path` is left as is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_urls(text: str) -> str:
    """Remove userinfo from every URL in free text (for error messages and logs)."""
    return _USERINFO_IN_TEXT.sub(lambda m: m.group("scheme"), text)
