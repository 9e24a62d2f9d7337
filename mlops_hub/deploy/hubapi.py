"""The hub's REST API from this host, for `status`: the live role quotas (admins edit them in the hub's DB)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from .swarmread import edge_https_port

TIMEOUT = 5.0


def _loopback_context(tls_dir: Path) -> ssl.SSLContext:
    """Verify the edge's certificate chain (against the local CA too, which `up` put into tls.crt's chain);
    not its host name: we ask our own published port on 127.0.0.1, and the certificate names the public host."""
    context = ssl.create_default_context()
    chain = tls_dir / "tls.crt"
    if chain.exists():
        context.load_verify_locations(cafile=str(chain))
    context.check_hostname = False
    return context


def role_limits(stack: str, state_dir: Path) -> tuple[dict[str, dict] | None, str]:
    """Role -> its live quota document, or None and why (the hub down, no token here, ...)."""
    token_file = state_dir / stack / "secrets" / "api_token"
    port = edge_https_port(stack)
    if port is None:
        return None, f"no front door deployed ({stack}_edge)"
    try:
        token = token_file.read_text().strip()
    except OSError as e:
        return None, f"cannot read the API token {token_file}: {e.strerror or e}"
    request = urllib.request.Request(f"https://127.0.0.1:{port}/hub/api/mlops/quotas",
                                     headers={"Authorization": f"token {token}"})
    context = _loopback_context(state_dir / stack / "tls")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as r:
            roles = json.loads(r.read())["roles"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
        return None, f"the hub's quota API did not answer: {getattr(e, 'reason', e)}"
    return {r["role"]: r.get("spec") or {} for r in roles}, ""
