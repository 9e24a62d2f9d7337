"""Wire quotas into a hub: `configure_quotas(c)` in jupyterhub_config.py."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..names import JOBS_SCOPE, MODELS_SCOPE, QUOTAS_READ_SCOPE, QUOTAS_WRITE_SCOPE

TEMPLATES = Path(__file__).parent / "templates"


def _get(section, key: str, default):
    # reading an unset key from a traitlets Config would create a LazyConfigValue
    return section[key] if key in section else default


# JupyterHub's `server` role (what a server's token may do) before we add to it
SERVER_TOKEN_SCOPES = ["users:activity!user", "access:servers!server"]


def grant_users_and_servers(c, scopes: list[str], server_scopes: list[str] | None = None) -> None:
    """Every user (JupyterHub's `user` role) gets `scopes`, every server's own token `server_scopes`
    (default: the same)."""
    roles = list(_get(c.JupyterHub, "load_roles", []))
    user_role = next((r for r in roles if r.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "description": "Standard user privileges, and the platform's tools",
                      "scopes": ["self", *scopes]})
    else:
        user_role["scopes"] = [*user_role.get("scopes", ["self"]), *scopes]
    c.JupyterHub.load_roles = roles
    c.Spawner.server_token_scopes = [*_get(c.Spawner, "server_token_scopes", SERVER_TOKEN_SCOPES),
                                     *(scopes if server_scopes is None else server_scopes)]


def configure_jobs(c) -> None:
    """Scheduled notebooks: the jobs REST API, its scope, held by every user and server token."""
    from .jobs_api import handlers

    c.JupyterHub.extra_handlers = list(_get(c.JupyterHub, "extra_handlers", [])) + handlers
    c.JupyterHub.custom_scopes = {
        **dict(_get(c.JupyterHub, "custom_scopes", {})),
        JOBS_SCOPE: {"description": "Schedule notebooks, follow their runs and remove them (one's own)."},
    }
    grant_users_and_servers(c, [JOBS_SCOPE])


# a served model is the JupyterHub service model-<name>, called with a token scoped to it (docs/models.md):
# users hold every service's access (there is no filter for "model-*") to narrow a token of theirs to one model;
# the platform's tools check more themselves (the monitoring ones want an admin)
MODEL_CALLER_SCOPE = "access:services"


def configure_models(c) -> None:
    """Model releases: the REST API and its scope, held by every user and server token; users may also make
    tokens that call served models (a server's own token may not)."""
    from .models_api import handlers

    c.JupyterHub.extra_handlers = list(_get(c.JupyterHub, "extra_handlers", [])) + handlers
    c.JupyterHub.custom_scopes = {
        **dict(_get(c.JupyterHub, "custom_scopes", {})),
        MODELS_SCOPE: {"description": "Release one's MLflow model versions as served model services."},
    }
    grant_users_and_servers(c, [MODELS_SCOPE, MODEL_CALLER_SCOPE], [MODELS_SCOPE])


def quota_manager_group(environ: Mapping[str, str] | None = None) -> str:
    """The hub group holding the quota-manager role: MLOPS_QUOTA_MANAGER_GROUP, '' when off."""
    env = os.environ if environ is None else environ
    return env.get("MLOPS_QUOTA_MANAGER_GROUP", "quota-managers").strip()


def configure_quotas(c, spawner_section: str = "MLOpsSwarmSpawner", manager_group: str | None = None) -> None:
    """REST API, admin page, nav link, custom scopes, the quota-manager role, and the store on."""
    from .quota_api import handlers as api_handlers
    from .quota_page import handlers as page_handlers

    c.JupyterHub.extra_handlers = list(_get(c.JupyterHub, "extra_handlers", [])) + api_handlers + page_handlers
    c.JupyterHub.custom_scopes = {
        **dict(_get(c.JupyterHub, "custom_scopes", {})),
        QUOTAS_WRITE_SCOPE: {"description": "Edit role quotas and team pools (and read them)."},
        QUOTAS_READ_SCOPE: {"description": "Read role quotas, team pool usage and the quota audit log."},
    }
    paths = list(_get(c.JupyterHub, "template_paths", []))
    c.JupyterHub.template_paths = paths if str(TEMPLATES) in paths else [str(TEMPLATES), *paths]
    manager_group = manager_group or quota_manager_group()
    if manager_group:
        c.JupyterHub.load_roles = [
            *list(_get(c.JupyterHub, "load_roles", [])),
            {"name": "mlops-quota-manager", "description": "edits role quotas without being an admin",
             "scopes": [QUOTAS_WRITE_SCOPE, QUOTAS_READ_SCOPE], "groups": [manager_group]},
        ]
    c[spawner_section].quota_store = True
