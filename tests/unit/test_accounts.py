"""The login choice (mlops_hub.hub.accounts): per-person accounts by default, shared password only when asked."""

from pathlib import Path

import pytest
from traitlets.config import Config

from mlops_hub.hub.accounts import (
    ACCOUNT_SETTINGS,
    AUTHENTICATOR,
    SHARED_PASSWORD_WARNING,
    LoginConfigError,
    configure_login,
)


def secrets_dir(tmp_path: Path) -> Path:
    for name, value in (("admin_password", "a" * 48), ("user_password", "u" * 48)):
        (tmp_path / name).write_text(value + "\n")
    return tmp_path


def test_default_is_native_accounts_approved_by_an_admin(tmp_path):
    c = Config()
    warnings = []
    assert configure_login(c, secrets_dir(tmp_path), {}, warn=warnings.append) == "accounts"
    assert c.JupyterHub.authenticator_class == AUTHENTICATOR
    native = c.MLOpsNativeAuthenticator
    assert native.open_signup is False and native.enable_signup is True
    assert native.minimum_password_length >= 10 and native.check_common_password is True
    assert native.allowed_failed_logins == 5 and native.seconds_before_next_try == 300
    assert native.ask_email_on_signup is False and native.allow_2fa is False
    assert {k: native[k] for k in ACCOUNT_SETTINGS} == ACCOUNT_SETTINGS
    assert native.first_admin == "admin" and c.Authenticator.admin_users == {"admin"}
    # the hub reads the file; no password is in the config
    assert native.admin_password_file == str(tmp_path / "admin_password")
    assert "a" * 48 not in repr(c) and "u" * 48 not in repr(c)
    assert "SharedPasswordAuthenticator" not in c
    assert warnings == []


def test_first_listed_admin_is_the_account_created_at_start(tmp_path):
    c = Config()
    configure_login(c, secrets_dir(tmp_path), {"MLOPS_HUB_ADMIN_USERS": " root-ann ,bob"})
    assert c.MLOpsNativeAuthenticator.first_admin == "root-ann"
    assert c.Authenticator.admin_users == {"root-ann", "bob"}


def test_shared_password_only_when_asked_and_it_warns(tmp_path):
    c = Config()
    warnings = []
    mode = configure_login(c, secrets_dir(tmp_path), {"MLOPS_HUB_LOGIN": "shared-password"}, warn=warnings.append)
    assert mode == "shared-password"
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "u" * 48
    assert c.SharedPasswordAuthenticator.admin_password == "a" * 48
    assert c.Authenticator.allow_all is True
    assert warnings == [SHARED_PASSWORD_WARNING]
    assert "any non-admin name" in SHARED_PASSWORD_WARNING and "another user's" in SHARED_PASSWORD_WARNING


@pytest.mark.parametrize(("env", "variable", "why"), [
    ({"MLOPS_HUB_LOGIN": "shared"}, "MLOPS_HUB_LOGIN", "use one of accounts, shared-password"),
    ({"MLOPS_HUB_LOGIN": "none"}, "MLOPS_HUB_LOGIN", "'none' is not a login mode"),
    ({"MLOPS_HUB_ADMIN_USERS": " , "}, "MLOPS_HUB_ADMIN_USERS", "names no user"),
])
def test_bad_settings_name_the_variable(tmp_path, env, variable, why):
    with pytest.raises(LoginConfigError, match=variable) as e:
        configure_login(Config(), secrets_dir(tmp_path), env)
    assert why in str(e.value)


def test_the_login_mode_reaches_the_hub_service():
    import yaml

    stack = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
    assert stack["services"]["hub"]["environment"]["MLOPS_HUB_LOGIN"] == "${MLOPS_HUB_LOGIN:-accounts}"
