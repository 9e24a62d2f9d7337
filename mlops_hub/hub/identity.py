"""Login through an OpenID Connect provider (Keycloak, GitLab, ADFS, ...) whose group claim
becomes the user's JupyterHub groups - the quota roles.

`configure_oidc(c)` in jupyterhub_config.py turns it on when MLOPS_OIDC_ISSUER is set; without it
the hub keeps its per-person accounts (mlops_hub.hub.accounts). The client secret is read from a
file (a Swarm secret), never from the environment.

MLOPS_OIDC_ISSUER            issuer URL; endpoints come from its /.well-known/openid-configuration
MLOPS_OIDC_CLIENT_ID         the client registered for the hub
MLOPS_OIDC_CLIENT_SECRET_FILE  default /run/secrets/oidc_client_secret
MLOPS_OIDC_CALLBACK_URL      https://HUB/hub/oauth_callback (as registered with the provider)
MLOPS_OIDC_SCOPES            default "openid profile email"
MLOPS_OIDC_USERNAME_CLAIM    default preferred_username; a login without it is refused
MLOPS_OIDC_GROUPS_CLAIM      default groups
MLOPS_OIDC_ADMIN_GROUPS      comma-separated provider groups whose members are hub admins (the only way
                             to be one: MLOPS_HUB_ADMIN_USERS is ignored with OIDC)
MLOPS_OIDC_QUOTA_MANAGER_GROUPS  comma-separated provider groups whose members join the quota-manager
                             group (MLOPS_QUOTA_MANAGER_GROUP); no other way into it
MLOPS_OIDC_ALLOWED_GROUPS    comma-separated; only their members (and admins) may log in. Required ...
MLOPS_OIDC_ALLOW_EVERYONE    ... unless this is 1: every account of the provider may log in

Group names map 1:1 onto hub groups (mlops_hub.hub.oidc_policy); the login rules are in
mlops_hub.hub.oidc_authenticator.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .oidc_policy import Refused, hub_group_names, parse_switch
from .setup import quota_manager_group

log = logging.getLogger("JupyterHub")


class OIDCConfigError(RuntimeError):
    """The OIDC settings cannot work; the message names the variable."""


def discover(issuer: str, timeout: float = 10) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as e:
        raise OIDCConfigError(f"MLOPS_OIDC_ISSUER: cannot read {url}: {e}") from None


def _groups(env: Mapping[str, str], variable: str) -> frozenset[str]:
    try:
        return hub_group_names(variable, env.get(variable))
    except Refused as e:
        raise OIDCConfigError(str(e)) from None


def _access(env: Mapping[str, str]) -> frozenset[str] | None:
    """The allowed groups; None when everyone may log in (only if explicitly asked for)."""
    try:
        everyone = parse_switch("MLOPS_OIDC_ALLOW_EVERYONE", env.get("MLOPS_OIDC_ALLOW_EVERYONE"))
    except Refused as e:
        raise OIDCConfigError(str(e)) from None
    allowed = _groups(env, "MLOPS_OIDC_ALLOWED_GROUPS")
    if allowed and everyone:
        raise OIDCConfigError("MLOPS_OIDC_ALLOW_EVERYONE: set together with MLOPS_OIDC_ALLOWED_GROUPS; choose one")
    if not allowed and not everyone:
        raise OIDCConfigError("MLOPS_OIDC_ALLOWED_GROUPS: required (the provider groups that may log in);"
                              " set MLOPS_OIDC_ALLOW_EVERYONE=1 to let every account of the provider in")
    return allowed or None


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
    allowed = _access(env)  # before discovery: a hub that would let everyone in does not start
    admin_groups = _groups(env, "MLOPS_OIDC_ADMIN_GROUPS")
    manager_groups = _groups(env, "MLOPS_OIDC_QUOTA_MANAGER_GROUPS")
    manager_target = quota_manager_group(env)
    if manager_groups and not manager_target:
        raise OIDCConfigError("MLOPS_OIDC_QUOTA_MANAGER_GROUPS: set, but MLOPS_QUOTA_MANAGER_GROUP is empty"
                              " (the quota-manager role is off)")
    username_claim = (env.get("MLOPS_OIDC_USERNAME_CLAIM") or "preferred_username").strip()
    meta = discover(issuer)

    c.JupyterHub.authenticator_class = "mlops_hub.hub.oidc_authenticator.MLOpsOIDCAuthenticator"
    m = c.MLOpsOIDCAuthenticator
    m.issuer = issuer
    m.groups_claim = (env.get("MLOPS_OIDC_GROUPS_CLAIM") or "groups").strip()
    m.quota_manager_groups = set(manager_groups)
    m.quota_manager_group = manager_target
    g = c.GenericOAuthenticator
    g.client_id = client_id
    g.client_secret = secret_file.read_text().strip()
    g.oauth_callback_url = callback
    g.authorize_url = meta["authorization_endpoint"]
    g.token_url = meta["token_endpoint"]
    g.userdata_url = meta["userinfo_endpoint"]
    g.scope = (env.get("MLOPS_OIDC_SCOPES") or "openid profile email").split()
    g.username_claim = username_claim
    g.login_service = env.get("MLOPS_OIDC_LOGIN_SERVICE") or "your organisation's login"
    g.enable_pkce = True
    # the provider's groups are the user's JupyterHub groups (added and removed at each login)
    g.manage_groups = True
    g.admin_groups = set(admin_groups)
    # rights come from the provider's groups alone: the bootstrap admin user names
    # (MLOPS_HUB_ADMIN_USERS, default `admin`) would make a provider account of that name an admin
    admin_users = set(c.Authenticator.admin_users) if "admin_users" in c.Authenticator else set()
    if admin_users:
        log.warning("MLOPS_HUB_ADMIN_USERS (%s) ignored with OIDC login: admins come from"
                    " MLOPS_OIDC_ADMIN_GROUPS only", ", ".join(sorted(admin_users)))
    c.Authenticator.admin_users = set()
    # users already in the hub's database get no pass around the allowed groups
    c.Authenticator.allow_existing_users = False
    c.Authenticator.allowed_users = set()
    if allowed is None:
        c.Authenticator.allow_all = True
        log.warning("MLOPS_OIDC_ALLOW_EVERYONE: every account of %s may log in", issuer)
    else:
        g.allowed_groups = set(allowed)
        c.Authenticator.allow_all = False
    return True
