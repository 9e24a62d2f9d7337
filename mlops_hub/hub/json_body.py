"""The JSON both of our hub REST APIs (quotas, jobs) read and write, with errors naming `body`."""

from __future__ import annotations

import json

from tornado import web


def json_object_body(raw: bytes | None, max_bytes: int, expected: str, empty: bytes = b"null") -> dict:
    """The request body as a JSON object; 400 naming `body` when it is too large, not JSON or not an object."""
    raw = raw or b""
    if len(raw) > max_bytes:
        raise web.HTTPError(400, f"body: larger than {max_bytes} bytes")
    try:
        body = json.loads(raw or empty)
    except (ValueError, UnicodeDecodeError) as e:
        raise web.HTTPError(400, f"body: not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise web.HTTPError(400, f"body: expected {expected}")
    return body


def finish_json(handler: web.RequestHandler, data, status: int = 200) -> None:
    handler.set_status(status)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps(data, default=str))
