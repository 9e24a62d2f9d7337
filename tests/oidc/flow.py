"""A real OpenID Provider and a real hub logging in through it, and the browser's part of a login."""

from __future__ import annotations

import contextlib
import re
import urllib.parse

import requests

from tests.quotas.hub import HubProcess
from tests.support.ports import free_port

from .provider import OpenIDProvider

# what jupyterhub_config.py configures before configure_oidc(c): the shared-password login's admin user
HUB_CONFIG = """
c.Authenticator.admin_users = {"admin"}
from mlops_hub.hub.identity import configure_oidc
assert configure_oidc(c)
"""


def oidc_env(idp: OpenIDProvider, callback: str, **extra: str) -> dict:
    return {"MLOPS_OIDC_ISSUER": idp.issuer, "MLOPS_OIDC_CLIENT_ID": idp.client_id,
            "MLOPS_OIDC_CLIENT_SECRET_FILE": str(idp.secret_file), "MLOPS_OIDC_CALLBACK_URL": callback,
            "MLOPS_OIDC_SCOPES": "openid profile email groups", **extra}


@contextlib.contextmanager
def provider_and_hub(tmp_dir, accounts: dict, **env: str):
    """The provider with `accounts` and a hub configured by MLOPS_OIDC_* (+ `env`); removed after."""
    hub_port = free_port()
    callback = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    idp = OpenIDProvider(callback, accounts).start()
    hub = HubProcess(f"sqlite:///{tmp_dir}/jupyterhub.sqlite", hub_port=hub_port,
                     env=oidc_env(idp, callback, **env), extra_config=HUB_CONFIG)
    try:
        hub.start()
        yield idp, hub
    finally:
        hub.remove()
        idp.stop()


def _submit(session: requests.Session, page: requests.Response, data: dict) -> requests.Response:
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    return session.post(urllib.parse.urljoin(page.url, action), data=data, timeout=10)


def oidc_attempt(hub: HubProcess, login: str) -> tuple[requests.Session, requests.Response]:
    """Sign in at the provider as `login`; the hub's answer to the callback (the last page)."""
    s = requests.Session()
    page = s.get(f"{hub.url}/hub/oauth_login?next=/hub/home", timeout=10)
    assert 'name="login"' in page.text, page.text[:500]  # the provider's sign-in form
    page = _submit(s, page, {"prompt": "login", "login": login, "password": "any"})
    if 'name="prompt" value="consent"' in page.text:
        page = _submit(s, page, {"prompt": "consent"})
    assert page.url.startswith(f"{hub.url}/hub/"), (page.url, page.text[:500])
    return s, page


def oidc_login(hub: HubProcess, login: str) -> requests.Session:
    s, page = oidc_attempt(hub, login)
    assert page.status_code == 200, page.text[:500]
    return s


def user_token(hub: HubProcess, user: str) -> str:
    """An API token of `user`, with the user's own rights (made by the admin service)."""
    r = hub.api("POST", f"/users/{user}/tokens", json={"note": "test"})
    assert r.status_code == 201, r.text
    return r.json()["token"]
