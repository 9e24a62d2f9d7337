"""A real JupyterHub process on loopback with the platform's login (mlops_hub.hub.accounts), on SQLite."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.quotas.hub import HubProcess

ADMIN_PASSWORD = secrets.token_hex(24)  # as `mlops-hub up` generates them
USER_PASSWORD = secrets.token_hex(24)


def login_config(secrets_dir: Path, env: dict[str, str], **native) -> str:
    """Config lines appended to the test hub's: our login instead of its dummy one."""
    lines = ["from pathlib import Path", "from mlops_hub.hub.accounts import configure_login",
             f"configure_login(c, Path({str(secrets_dir)!r}), {env!r})"]
    lines += [f"c.MLOpsNativeAuthenticator.{key} = {value!r}" for key, value in native.items()]
    return "\n" + "\n".join(lines) + "\n"


def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "admin_password").write_text(ADMIN_PASSWORD + "\n")
    (directory / "user_password").write_text(USER_PASSWORD + "\n")
    return directory


def start_hub(tmp_path: Path, env: dict[str, str] | None = None, db: Path | None = None, **native) -> HubProcess:
    db = db or tmp_path / "jupyterhub.sqlite"
    hub = HubProcess(f"sqlite:///{db}",
                     extra_config=login_config(secrets_dir(tmp_path) if not (tmp_path / "secrets").exists()
                                               else tmp_path / "secrets",
                                               {"MLOPS_HUB_ADMIN_USERS": "admin,boss2", **(env or {})}, **native))
    return hub.start()


@pytest.fixture(scope="module")
def accounts_hub(tmp_path_factory):
    """Accounts as the stack sets them, but a lockout of 3 failures for 4 seconds (a test can wait it out)."""
    hub = start_hub(tmp_path_factory.mktemp("accounts"), allowed_failed_logins=3, seconds_before_next_try=4)
    yield hub
    hub.remove()
