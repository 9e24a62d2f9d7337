"""The caller of one of our hub REST APIs: a user (not a service), whose token holds the API's custom scope."""

from __future__ import annotations

from tornado import web


def scoped_user(handler, scope: str, what: str):
    """The handler's current user; 403 naming `what` (e.g. "Notebook jobs") otherwise.

    Checked in the handler, not with @needs_scope: a custom scope exists only once the hub has loaded config."""
    user = handler.current_user
    if user is None or user.__class__.__name__ != "User":
        raise web.HTTPError(403, f"{what} belong to users: use a user's token or log in.")
    if scope not in handler.expanded_scopes:
        raise web.HTTPError(403, f"This token may not use {what.lower()} (it lacks the scope {scope}).")
    return user
