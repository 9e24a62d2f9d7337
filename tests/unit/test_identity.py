"""OIDC settings from the environment: off when unset, clear errors, group name mapping."""

import pytest
from traitlets.config import Config

from mlops_hub.identity import OIDCConfigError, configure_oidc, group_name, groups_from_claim


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
