"""The hub's login when no identity provider is configured: one account per person (the default) or,
only when `mlops-hub up --shared-password` asked for it, one shared password.

`configure_login(c)` in jupyterhub_config.py; OIDC (identity.py), when configured, replaces it.
The settings of the accounts (docs/accounts.md):
- sign-up at /hub/signup; nobody can log in until an admin approves the account at /hub/authorize;
- passwords of at least 10 characters, not in NativeAuthenticator's list of common passwords, at most
  72 bytes (bcrypt's limit), stored as bcrypt hashes in the hub's database (table users_info);
- 5 failed logins in a row lock the account for 5 minutes;
- the first admin (the first name of MLOPS_HUB_ADMIN_USERS, `admin` by default) is created at hub
  start with the admin_password secret as its password, if it does not exist.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..names import ENV_HUB_LOGIN, LOGIN_ACCOUNTS, LOGIN_MODES, LOGIN_SHARED_PASSWORD

TEMPLATES = Path(__file__).parent / "templates"
AUTHENTICATOR = "mlops_hub.hub.native_accounts.MLOpsNativeAuthenticator"
ACCOUNT_SETTINGS = {
    "enable_signup": True,
    "open_signup": False,           # an admin approves every sign-up
    "minimum_password_length": 10,
    "check_common_password": True,
    "allowed_failed_logins": 5,
    "seconds_before_next_try": 300,
    "ask_email_on_signup": False,   # no mail server: approval is by an admin, never by e-mail
    "allow_2fa": False,
}
SHARED_PASSWORD_WARNING = (
    "[mlops-hub] warning: shared-password login (MLOPS_HUB_LOGIN=shared-password): anyone who has the one"
    " user password can log in under any non-admin name - another user's, or a quota manager's - and"
    " open that user's server and files. Use per-person accounts (the default) instead.")


class LoginConfigError(RuntimeError):
    """The login settings cannot work; the message names the variable."""


def login_mode(environ: Mapping[str, str]) -> str:
    mode = (environ.get(ENV_HUB_LOGIN) or LOGIN_ACCOUNTS).strip()
    if mode not in LOGIN_MODES:
        raise LoginConfigError(f"{ENV_HUB_LOGIN}: {mode!r} is not a login mode; use one of {', '.join(LOGIN_MODES)}")
    return mode


def admin_names(environ: Mapping[str, str]) -> list[str]:
    """MLOPS_HUB_ADMIN_USERS in order (the first is the account created at start); default `admin`."""
    names = [n.strip() for n in environ.get("MLOPS_HUB_ADMIN_USERS", "admin").split(",") if n.strip()]
    if not names:
        raise LoginConfigError("MLOPS_HUB_ADMIN_USERS: names no user; leave it unset for `admin`")
    return names


def configure_login(c, secrets_dir: Path, environ: Mapping[str, str] | None = None, warn=None) -> str:
    """Set the hub's authenticator from the environment; returns the mode chosen."""
    env = os.environ if environ is None else environ
    mode = login_mode(env)
    admins = admin_names(env)
    c.Authenticator.admin_users = set(admins)
    admin_password = secrets_dir / "admin_password"
    if mode == LOGIN_SHARED_PASSWORD:
        (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(SHARED_PASSWORD_WARNING)
        c.JupyterHub.authenticator_class = "shared-password"
        c.Authenticator.allow_all = True
        for name in ("admin_password", "user_password"):
            path = secrets_dir / name
            if path.exists():
                setattr(c.SharedPasswordAuthenticator, name, path.read_text().strip())
        return mode
    c.JupyterHub.authenticator_class = AUTHENTICATOR
    # page.html: the nav links to the accounts' pages (reading an unset key would create a LazyConfigValue)
    paths = list(c.JupyterHub["template_paths"]) if "template_paths" in c.JupyterHub else []
    if str(TEMPLATES) not in paths:
        c.JupyterHub.template_paths = [str(TEMPLATES), *paths]
    # NativeAuthenticator itself refuses every account an admin has not approved
    c.Authenticator.allow_all = True
    native = c.MLOpsNativeAuthenticator
    for key, value in ACCOUNT_SETTINGS.items():
        setattr(native, key, value)
    native.first_admin = admins[0]
    # the file, not its content: the password stays out of the config and is only hashed
    native.admin_password_file = str(admin_password)
    return mode
