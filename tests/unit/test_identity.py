"""OIDC settings from the environment: off when unset, clear errors, who may log in, who is admin."""

from pathlib import Path

import pytest
from traitlets.config import Config

from mlops_hub.hub import identity
from mlops_hub.hub.identity import OIDCConfigError, configure_oidc


def test_unset_issuer_keeps_the_existing_login():
    c = Config()
    c.JupyterHub.authenticator_class = "shared-password"
    assert configure_oidc(c, {}) is False
    assert c.JupyterHub.authenticator_class == "shared-password"


@pytest.mark.parametrize("env, variable", [
    ({"MLOPS_OIDC_ISSUER": "http://127.0.0.1:1"}, "MLOPS_OIDC_CLIENT_ID"),
    ({"MLOPS_OIDC_ISSUER": "http://127.0.0.1:1", "MLOPS_OIDC_CLIENT_ID": "hub",
      "MLOPS_OIDC_CLIENT_SECRET_FILE": "/nonexistent/secret"}, "MLOPS_OIDC_CLIENT_SECRET_FILE"),
])
def test_incomplete_settings_name_the_variable(env, variable):
    with pytest.raises(OIDCConfigError, match=variable):
        configure_oidc(Config(), env)


@pytest.fixture
def base_env(tmp_path, monkeypatch):
    """Complete settings but the access rule; discovery answers without a provider."""
    secret = tmp_path / "secret"
    secret.write_text("x")
    monkeypatch.setattr(identity, "discover", lambda issuer: {
        "authorization_endpoint": "a", "token_endpoint": "t", "userinfo_endpoint": "u"})
    return {"MLOPS_OIDC_ISSUER": "https://idp", "MLOPS_OIDC_CLIENT_ID": "hub",
            "MLOPS_OIDC_CLIENT_SECRET_FILE": str(secret), "MLOPS_OIDC_CALLBACK_URL": "https://hub/cb"}


def test_no_allowed_groups_refuses_to_start_unless_everyone_is_asked_for(base_env):
    with pytest.raises(OIDCConfigError, match="^MLOPS_OIDC_ALLOWED_GROUPS: required.*MLOPS_OIDC_ALLOW_EVERYONE=1"):
        configure_oidc(Config(), base_env)
    c = Config()
    assert configure_oidc(c, {**base_env, "MLOPS_OIDC_ALLOW_EVERYONE": "1"})
    assert c.Authenticator.allow_all is True
    c = Config()
    assert configure_oidc(c, {**base_env, "MLOPS_OIDC_ALLOWED_GROUPS": "/staff, ml/risk-models"})
    assert c.Authenticator.allow_all is False and c.GenericOAuthenticator.allowed_groups == {"staff", "ml.risk-models"}
    assert c.Authenticator.allow_existing_users is False


@pytest.mark.parametrize("extra, message", [
    ({"MLOPS_OIDC_ALLOW_EVERYONE": "sure"}, "^MLOPS_OIDC_ALLOW_EVERYONE: expected 1/true/yes"),
    ({"MLOPS_OIDC_ALLOW_EVERYONE": "1", "MLOPS_OIDC_ALLOWED_GROUPS": "staff"},
     "^MLOPS_OIDC_ALLOW_EVERYONE: set together"),
    ({"MLOPS_OIDC_ALLOWED_GROUPS": "staff, bad\x00"}, "^MLOPS_OIDC_ALLOWED_GROUPS: group"),
    ({"MLOPS_OIDC_ALLOW_EVERYONE": "1", "MLOPS_OIDC_ADMIN_GROUPS": "ok,\u200bx"}, "^MLOPS_OIDC_ADMIN_GROUPS: group"),
    ({"MLOPS_OIDC_ALLOW_EVERYONE": "1", "MLOPS_OIDC_QUOTA_MANAGER_GROUPS": "ops/q", "MLOPS_QUOTA_MANAGER_GROUP": ""},
     "^MLOPS_OIDC_QUOTA_MANAGER_GROUPS: set, but MLOPS_QUOTA_MANAGER_GROUP is empty"),
])
def test_bad_access_settings_name_the_variable(base_env, extra, message):
    with pytest.raises(OIDCConfigError, match=message):
        configure_oidc(Config(), {**base_env, **extra})


def test_rights_come_from_configured_groups_only(base_env, caplog):
    c = Config()
    c.Authenticator.admin_users = {"admin"}  # what jupyterhub_config.py sets for the shared-password login
    env = {**base_env, "MLOPS_OIDC_ALLOW_EVERYONE": "1", "MLOPS_OIDC_ADMIN_GROUPS": "platform/admins",
           "MLOPS_OIDC_QUOTA_MANAGER_GROUPS": "ops/quota", "MLOPS_QUOTA_MANAGER_GROUP": "qm"}
    with caplog.at_level("WARNING", logger="JupyterHub"):
        assert configure_oidc(c, env)
    assert c.Authenticator.admin_users == set()
    assert "MLOPS_HUB_ADMIN_USERS (admin) ignored with OIDC login" in caplog.text
    assert c.GenericOAuthenticator.admin_groups == {"platform.admins"}
    assert c.MLOpsOIDCAuthenticator.quota_manager_groups == {"ops.quota"}
    assert c.MLOpsOIDCAuthenticator.quota_manager_group == "qm"
    assert c.MLOpsOIDCAuthenticator.issuer == "https://idp"
    assert c.JupyterHub.authenticator_class.endswith("oidc_authenticator.MLOpsOIDCAuthenticator")


class RecordingEnv(dict):
    """An environment that remembers every variable asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)


def test_every_oidc_setting_reaches_the_hub_service(tmp_path, monkeypatch):
    """Each MLOPS_OIDC_* variable configure_oidc reads is passed to the hub in swarm-stack.yml
    (the client secret comes as a Swarm secret file instead)."""
    import yaml

    from mlops_hub.hub import identity

    secret = tmp_path / "secret"
    secret.write_text("x")
    monkeypatch.setattr(identity, "discover", lambda issuer: {
        "authorization_endpoint": "a", "token_endpoint": "t", "userinfo_endpoint": "u"})
    env = RecordingEnv({"MLOPS_OIDC_ISSUER": "https://idp", "MLOPS_OIDC_CLIENT_ID": "hub",
                        "MLOPS_OIDC_CLIENT_SECRET_FILE": str(secret), "MLOPS_OIDC_CALLBACK_URL": "https://hub/cb",
                        "MLOPS_OIDC_ALLOWED_GROUPS": "staff"})
    assert configure_oidc(Config(), env) is True
    read = {k for k in env.asked if k.startswith("MLOPS_OIDC_")} - {"MLOPS_OIDC_CLIENT_SECRET_FILE"}
    stack = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
    passed = set(stack["services"]["hub"]["environment"])
    assert len(read) >= 11 and read <= passed, sorted(read - passed)
