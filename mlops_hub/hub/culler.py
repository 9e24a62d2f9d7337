"""Idle servers stop: jupyterhub-idle-culler as a hub-managed service, set from platform.yaml's `culler:`.

`configure_culler(c, platform_file)` in jupyterhub_config.py checks the section when the hub starts
(a bad value stops the hub naming the file and key) and, unless `enabled: false`, adds the service
and a role with only the scopes the culler needs: it reads users' server activity and stops servers;
it is no admin, cannot start servers, read tokens or delete users.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..policy.culler import SECTION, CullerSettings, culler_from_config
from ..policy.errors import ConfigError
from ..policy.platform import load_platform_file
from .config import cannot_start
from .setup import _get

SERVICE = "idle-culler"
ROLE = "idle-culler"
# what jupyterhub-idle-culler's README lists for stopping servers (`admin:users` only for --cull-users)
SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")


def culler_service(settings: CullerSettings, python: str = sys.executable) -> dict:
    """The JupyterHub service entry: the hub starts (and restarts) the culler with its API token."""
    return {
        "name": SERVICE,
        "command": [python, "-m", "jupyterhub_idle_culler", f"--timeout={settings.timeout}",
                    f"--cull-every={settings.every}", f"--max-age={settings.max_age}"],
    }


def culler_role() -> dict:
    return {"name": ROLE, "description": "stops idle user servers (jupyterhub-idle-culler)",
            "scopes": list(SCOPES), "services": [SERVICE]}


def culler_settings(platform_file: Path | None) -> CullerSettings:
    """The `culler:` section of platform.yaml (the defaults without the file); ConfigError names file and key."""
    if platform_file is None or not Path(platform_file).exists():
        return culler_from_config(None)
    document = load_platform_file(Path(platform_file), check=False)
    try:
        return culler_from_config(document.get(SECTION))
    except ConfigError as e:
        raise ConfigError(f"{platform_file}: {e}") from None


def configure_culler(c, platform_file: Path | None = None, python: str = sys.executable) -> CullerSettings:
    """Add the culler service and its role to `c` (unless disabled); SystemExit naming file and key."""
    try:
        settings = culler_settings(platform_file)
    except ConfigError as e:
        raise cannot_start(str(e)) from None
    if settings.enabled:
        c.JupyterHub.services = [*_get(c.JupyterHub, "services", []), culler_service(settings, python)]
        c.JupyterHub.load_roles = [*_get(c.JupyterHub, "load_roles", []), culler_role()]
    return settings
