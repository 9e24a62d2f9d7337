"""Wait for the hub's database server before JupyterHub connects to it.

In the stack the hub and PostgreSQL start together; without this, a hub that starts first
exits on its first query and Swarm shows failed tasks until the database is up.
"""

from __future__ import annotations

import socket
import sys
import time
from urllib.parse import urlsplit

POSTGRES_PORT = 5432


def database_address(db_url: str) -> tuple[str, int] | None:
    """(host, port) of a network database URL; None for SQLite or a local socket."""
    parts = urlsplit(db_url)
    if not parts.scheme.startswith("postgresql") or not parts.hostname:
        return None
    return parts.hostname, parts.port or POSTGRES_PORT


def wait_for_database(db_url: str, timeout: float = 120, interval: float = 1, log=None) -> bool:
    """True once the database accepts TCP connections (or there is nothing to wait for)."""
    address = database_address(db_url)
    if address is None:
        return True
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        try:
            with socket.create_connection(address, timeout=interval):
                if waited:
                    log(f"[mlops-hub] database at {address[0]}:{address[1]} is accepting connections")
                return True
        except OSError as e:
            if time.monotonic() >= deadline:
                log(f"[mlops-hub] database at {address[0]}:{address[1]} still unreachable after"
                    f" {timeout:.0f}s ({e}); starting anyway")
                return False
            if not waited:
                log(f"[mlops-hub] waiting for the database at {address[0]}:{address[1]} ({e})")
                waited = True
            time.sleep(interval)
