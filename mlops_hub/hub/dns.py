"""Resolve Swarm service names afresh on every connection, in the hub and in user servers.

Without IPVS, Swarm services are reached by DNS round-robin, so a restarted hub or proxy has
a new address. JupyterHub's HTTP client (aiohttp) resolves through c-ares, which caches
Docker's answers for their TTL (600 s): a restarted hub stayed unreachable for minutes.
The system resolver (getaddrinfo) asks Docker's embedded DNS each time.
"""

from __future__ import annotations

_PATCHED = "_mlops_fresh_dns"


def resolve_names_afresh() -> bool:
    """Make JupyterHub's shared HTTP client build connectors with the system resolver.

    Patches the connector factory, because a resolver needs a running event loop and
    traitlets config (deep-copied) cannot carry one.
    """
    try:
        from aiohttp import ThreadedResolver
        from jupyterhub.httpclient import JupyterHubHTTPClient
    except ImportError:  # JupyterHub < 6 has no shared client
        return False
    original = JupyterHubHTTPClient._new_connector
    if getattr(original, _PATCHED, False):
        return True

    def _new_connector(self):
        self._internal_connector_options = {
            **self._internal_connector_options, "resolver": ThreadedResolver(), "use_dns_cache": False,
        }
        return original(self)

    setattr(_new_connector, _PATCHED, True)
    JupyterHubHTTPClient._new_connector = _new_connector
    if JupyterHubHTTPClient.initialized():
        JupyterHubHTTPClient.clear_instance()  # the next request builds a client with the patch
    return True
