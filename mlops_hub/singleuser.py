"""A server extension for user servers: keep reaching the hub after the hub restarts.

See mlops_hub.hub.dns for why: a restarted hub has a new address, and the cached one was used
for minutes, so every token check failed with 500.
"""

from __future__ import annotations

from .hub.dns import resolve_names_afresh


def _jupyter_server_extension_points():
    return [{"module": "mlops_hub.singleuser"}]


def _load_jupyter_server_extension(serverapp) -> None:
    resolve_names_afresh()
    serverapp.log.info("mlops_hub.singleuser: the hub's address is resolved on every connection")
