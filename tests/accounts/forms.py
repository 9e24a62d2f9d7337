"""The hub's login and sign-up forms, posted as a browser posts them (XSRF token from the page)."""

from __future__ import annotations

import html
import re

import requests


def _xsrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code, page.text[:300])
    return re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)


def signup(hub_url: str, user: str, password: str, confirmation: str | None = None) -> str:
    """Sign up at /hub/signup; returns the message the page shows."""
    s = requests.Session()
    xsrf = _xsrf(s, f"{hub_url}/hub/signup")
    r = s.post(f"{hub_url}/hub/signup", timeout=30, data={
        "username": user, "signup_password": password,
        "signup_password_confirmation": password if confirmation is None else confirmation, "_xsrf": xsrf})
    assert r.status_code == 200, r.text[:500]
    found = re.search(r'<div class="alert [^"]*" role="alert">\s*<p>\s*(.*?)\s*</p>', r.content.decode("utf8"), re.S)
    assert found, r.text[-2000:]
    return html.unescape(found.group(1))


def try_login(hub_url: str, user: str, password: str) -> tuple[requests.Session, requests.Response]:
    """Post the login form; the session holds the hub's cookie only if the login worked."""
    s = requests.Session()
    xsrf = _xsrf(s, f"{hub_url}/hub/login")
    r = s.post(f"{hub_url}/hub/login?next=%2Fhub%2Fhome", timeout=30, allow_redirects=False,
               data={"username": user, "password": password, "_xsrf": xsrf})
    return s, r


def logged_in(response: requests.Response) -> bool:
    return response.status_code == 302 and "/hub/login" not in response.headers.get("Location", "")


def login_error(response: requests.Response) -> str:
    """The error the login page shows (empty if none)."""
    found = re.search(r'<p class="login_error">\s*(.*?)\s*</p>', response.content.decode("utf8"), re.S)
    return html.unescape(found.group(1)) if found else ""
