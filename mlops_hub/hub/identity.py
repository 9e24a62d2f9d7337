"""Login through an OpenID Connect provider (Keycloak, GitLab, ADFS, ...) whose group claim
becomes the user's JupyterHub groups - the quota roles.

`configure_oidc(c)` in jupyterhub_config.py turns it on when MLOPS_OIDC_ISSUER is set; without it
the hub keeps its shared-password login. The client secret is read from a file (a Swarm secret),
never from the environment.

MLOPS_OIDC_ISSUER            issuer URL; endpoints come from its /.well-known/openid-configuration
MLOPS_OIDC_CLIENT_ID         the client registered for the hub
MLOPS_OIDC_CLIENT_SECRET_FILE  default /run/secrets/oidc_client_secret
MLOPS_OIDC_CALLBACK_URL      https://HUB/hub/oauth_callback (as registered with the provider)
MLOPS_OIDC_SCOPES            default "openid profile email"
MLOPS_OIDC_USERNAME_CLAIM    default preferred_username
MLOPS_OIDC_GROUPS_CLAIM      default groups
MLOPS_OIDC_ADMIN_GROUPS      comma-separated groups whose members are hub admins
MLOPS_OIDC_ALLOWED_GROUPS    comma-separated; when set, only their members may log in
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path


class OIDCConfigError(RuntimeError):
    """The OIDC settings cannot work; the message names the variable."""


def group_name(raw: str) -> str:
    """A provider's group as a JupyterHub group: Keycloak's '/team' and GitLab's 'org/team'
    become 'team' and 'org.team' (a '/' cannot appear in a group's URL)."""
    return raw.strip().lstrip("/").replace("/", ".")


def groups_from_claim(claim: str):
    def groups(auth_state: Mapping) -> list[str]:
        user = auth_state.get("oauth_user") or {}
        value = user.get(claim) or []
        if isinstance(value, str):
            value = [value]
        return sorted({group_name(g) for g in value if isinstance(g, str) and group_name(g)})

    return groups


def discover(issuer: str, timeout: float = 10) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as e:
        raise OIDCConfigError(f"MLOPS_OIDC_ISSUER: cannot read {url}: {e}") from None


def _csv(value: str | None) -> set[str]:
    return {group_name(v) for v in (value or "").split(",") if v.strip()}


def configure_oidc(c, environ: Mapping[str, str] | None = None) -> bool:
    """Configure GenericOAuthenticator from the environment; False (nothing changed) when unset."""
    env = os.environ if environ is None else environ
    issuer = env.get("MLOPS_OIDC_ISSUER", "").strip()
    if not issuer:
        return False
    client_id = env.get("MLOPS_OIDC_CLIENT_ID", "").strip()
    if not client_id:
        raise OIDCConfigError("MLOPS_OIDC_CLIENT_ID: required with MLOPS_OIDC_ISSUER")
    secret_file = Path(env.get("MLOPS_OIDC_CLIENT_SECRET_FILE", "/run/secrets/oidc_client_secret"))
    if not secret_file.exists():
        raise OIDCConfigError(f"MLOPS_OIDC_CLIENT_SECRET_FILE: {secret_file} does not exist")
    callback = env.get("MLOPS_OIDC_CALLBACK_URL", "").strip()
    if not callback:
        raise OIDCConfigError("MLOPS_OIDC_CALLBACK_URL: required (https://HUB/hub/oauth_callback)")
    meta = discover(issuer)

    c.JupyterHub.authenticator_class = "generic-oauth"
    g = c.GenericOAuthenticator
    g.client_id = client_id
    g.client_secret = secret_file.read_text().strip()
    g.oauth_callback_url = callback
    g.authorize_url = meta["authorization_endpoint"]
    g.token_url = meta["token_endpoint"]
    g.userdata_url = meta["userinfo_endpoint"]
    g.scope = (env.get("MLOPS_OIDC_SCOPES") or "openid profile email").split()
    g.username_claim = env.get("MLOPS_OIDC_USERNAME_CLAIM") or "preferred_username"
    g.login_service = env.get("MLOPS_OIDC_LOGIN_SERVICE") or "your organisation's login"
    g.enable_pkce = True
    # the provider's groups are the user's JupyterHub groups (added and removed at each login)
    g.manage_groups = True
    g.auth_state_groups_key = groups_from_claim(env.get("MLOPS_OIDC_GROUPS_CLAIM") or "groups")
    admin_groups = _csv(env.get("MLOPS_OIDC_ADMIN_GROUPS"))
    if admin_groups:
        g.admin_groups = admin_groups
    allowed = _csv(env.get("MLOPS_OIDC_ALLOWED_GROUPS"))
    if allowed:
        g.allowed_groups = allowed
        c.Authenticator.allow_all = False
    else:
        c.Authenticator.allow_all = True
    return True
