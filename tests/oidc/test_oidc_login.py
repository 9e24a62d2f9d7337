"""OIDC login end to end: a real OpenID Provider (node oidc-provider) and a real hub; the
groups claim becomes the user's JupyterHub groups, which are the quota roles."""

from __future__ import annotations

import pytest

from .flow import oidc_login, provider_and_hub

ACCOUNTS = {
    # Keycloak sends group paths with a leading '/'; GitLab sends 'org/team' full paths
    "rita": {"preferred_username": "rita", "email": "rita@example.org", "groups": ["/risk-models", "staff"]},
    "gabe": {"preferred_username": "gabe", "groups": ["platform/admins"]},
    "nobody": {"preferred_username": "nobody", "groups": []},
}


@pytest.fixture(scope="module")
def idp_and_hub(tmp_path_factory):
    with provider_and_hub(tmp_path_factory.mktemp("oidc"), ACCOUNTS, MLOPS_OIDC_ADMIN_GROUPS="platform/admins",
                          MLOPS_OIDC_ALLOW_EVERYONE="1") as running:
        yield running


def test_groups_claim_becomes_groups_roles_and_limits(idp_and_hub):
    idp, hub = idp_and_hub
    oidc_login(hub, "rita")
    user = hub.api("GET", "/users/rita").json()
    assert sorted(user["groups"]) == ["risk-models", "staff"]
    assert user["admin"] is False
    # the role's limits apply: risk-models allows 4 CPUs (the default role only 1)
    r = hub.api("POST", "/users/rita/server", json={"environment": "python", "cpu_limit": 5})
    assert r.status_code == 400 and "0.1 to 4 CPUs" in r.json()["message"], r.text
    s = oidc_login(hub, "rita")
    form = s.get(f"{hub.url}/hub/spawn", timeout=10)
    assert "risk-models" in form.text and "<strong>4 CPUs</strong>" in form.text, form.text[-2000:]
    assert "Team <strong>risk-models</strong>: 8 server(s), 16 CPUs, 64G memory free" in form.text


def test_admin_group_and_user_without_groups(idp_and_hub):
    idp, hub = idp_and_hub
    oidc_login(hub, "gabe")
    gabe = hub.api("GET", "/users/gabe").json()
    assert gabe["groups"] == ["platform.admins"] and gabe["admin"] is True
    oidc_login(hub, "nobody")
    assert hub.api("GET", "/users/nobody").json()["groups"] == []
    r = hub.api("POST", "/users/nobody/server", json={"environment": "python", "cpu_limit": 2})
    assert r.status_code == 400 and "0.1 to 1 CPUs" in r.json()["message"], r.text  # the default role
