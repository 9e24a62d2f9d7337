"""OIDC settings from the environment: off when unset, clear errors, group name mapping."""

from pathlib import Path

import pytest
from traitlets.config import Config

from mlops_hub.hub.identity import OIDCConfigError, configure_oidc, group_name, groups_from_claim


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


def test_group_names_and_claim():
    assert group_name("/risk-models") == "risk-models"
    assert group_name("ml/risk-models") == "ml.risk-models"
    groups = groups_from_claim("groups")
    assert groups({"oauth_user": {"groups": ["/a", "b/c", "", 5]}}) == ["a", "b.c"]
    assert groups({"oauth_user": {"groups": "solo"}}) == ["solo"]
    assert groups({"oauth_user": {}}) == []


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
                        "MLOPS_OIDC_CLIENT_SECRET_FILE": str(secret), "MLOPS_OIDC_CALLBACK_URL": "https://hub/cb"})
    assert configure_oidc(Config(), env) is True
    read = {k for k in env.asked if k.startswith("MLOPS_OIDC_")} - {"MLOPS_OIDC_CLIENT_SECRET_FILE"}
    stack = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
    passed = set(stack["services"]["hub"]["environment"])
    assert len(read) >= 9 and read <= passed, sorted(read - passed)
