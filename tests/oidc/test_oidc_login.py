"""OIDC login end to end: a real OpenID Provider (node oidc-provider) and a real hub; the
groups claim becomes the user's JupyterHub groups, which are the quota roles."""

from __future__ import annotations

import re
import urllib.parse

import pytest
import requests

from tests.quotas.hub import HubProcess
from tests.support.ports import free_port

from .provider import OpenIDProvider

ACCOUNTS = {
    # Keycloak sends group paths with a leading '/'; GitLab sends 'org/team' full paths
    "rita": {"preferred_username": "rita", "email": "rita@example.org", "groups": ["/risk-models", "staff"]},
    "gabe": {"preferred_username": "gabe", "groups": ["platform/admins"]},
    "nobody": {"preferred_username": "nobody", "groups": []},
}


@pytest.fixture(scope="module")
def idp_and_hub(tmp_path_factory):
    hub_port = free_port()
    callback = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    idp = OpenIDProvider(callback, ACCOUNTS).start()
    hub = HubProcess(
        f"sqlite:///{tmp_path_factory.mktemp('oidc')}/jupyterhub.sqlite", hub_port=hub_port,
        env={"MLOPS_OIDC_ISSUER": idp.issuer, "MLOPS_OIDC_CLIENT_ID": idp.client_id,
             "MLOPS_OIDC_CLIENT_SECRET_FILE": str(idp.secret_file), "MLOPS_OIDC_CALLBACK_URL": callback,
             "MLOPS_OIDC_SCOPES": "openid profile email groups", "MLOPS_OIDC_ADMIN_GROUPS": "platform/admins"},
        extra_config="\nfrom mlops_hub.hub.identity import configure_oidc\nassert configure_oidc(c)\n",
    )
    try:
        hub.start()
    except Exception:
        hub.remove()
        idp.stop()
        raise
    yield idp, hub
    hub.remove()
    idp.stop()


def _submit(session: requests.Session, page: requests.Response, data: dict) -> requests.Response:
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    return session.post(urllib.parse.urljoin(page.url, action), data=data, timeout=10)


def oidc_login(hub: HubProcess, login: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{hub.url}/hub/oauth_login?next=/hub/home", timeout=10)
    assert 'name="login"' in page.text, page.text[:500]  # the provider's sign-in form
    page = _submit(s, page, {"prompt": "login", "login": login, "password": "any"})
    if 'name="prompt" value="consent"' in page.text:
        page = _submit(s, page, {"prompt": "consent"})
    assert page.url.startswith(f"{hub.url}/hub/"), (page.url, page.text[:500])
    assert page.status_code == 200, page.text[:500]
    return s


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
