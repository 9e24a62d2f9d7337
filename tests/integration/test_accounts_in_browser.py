"""Per-person accounts in the deployed stack, in real Chromium: sign up, refused until an admin approves,
approved in the browser, logged in; one person's cookie does not open another's server or API; repeated
wrong passwords lock an account; no shared password opens another person's name.

(docs/security.md: on the code before per-person accounts, the stack logged anyone in under any
non-admin name with the one user password, and /hub/signup did not exist.)
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page

from tests.support.ports import free_port

from . import browser
from .test_stack_postgres import _sql

pytestmark = pytest.mark.swarm

REQUEST = {"environment": "python", "cpu_limit": 0.1, "mem_limit": "512M"}
NOT_APPROVED = "has not been authorized by an administrator yet."


def submit_login(chromium: Browser, hub_url: str, user: str, password: str) -> Page:
    """The login form filled and sent in a fresh browser context; the page it lands on."""
    page = chromium.new_context().new_page()
    page.goto(f"{hub_url}/hub/login?next=%2Fhub%2Fhome")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    with page.expect_navigation():
        page.click("#login_submit")
    return page


def refusal(page: Page) -> str:
    """The login page's error, asserting the browser is still on the login page."""
    assert "/hub/login" in page.url, f"logged in: {page.url}"
    return page.locator(".login_error").inner_text().strip()


def test_sign_up_is_refused_until_an_admin_approves_it_in_the_browser(hub, chromium):
    user = f"newcomer-{free_port() % 10000}"
    password = secrets.token_urlsafe(18)
    page = chromium.new_context().new_page()
    page.goto(f"{hub.url}/hub/login")
    page.click("a[href$='/hub/signup']")  # the login page's "Sign up" link
    page.wait_for_url("**/hub/signup")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.fill("#password_confirmation_input", password)
    page.click("#signup_submit")
    assert page.locator("[role=alert]").inner_text().strip() == (
        f"Account {user} created. You can log in once an admin has approved it.")

    refused = submit_login(chromium, hub.url, user, password)
    assert refusal(refused) == f"User {user} {NOT_APPROVED}"

    admin = browser.login(chromium, hub.url, "admin", hub.admin_password)
    admin.goto(f"{hub.url}/hub/home")
    admin.click("#mlops-authorize-link")
    admin.wait_for_url("**/hub/authorize")
    row = admin.locator(f"tr[id='{user}']")
    assert "No" in row.inner_text()
    with admin.expect_navigation():
        row.locator("a", has_text="Authorize").click()
    assert "Yes" in admin.locator(f"tr[id='{user}']").inner_text()
    # the same approval from a link opened outside the hub's page is refused (Sec-Fetch-Site: none)
    stranger = f"stranger-{free_port() % 10000}"
    assert "once an admin has approved it" in hub.sign_up(stranger, secrets.token_urlsafe(18))
    response = admin.goto(f"{hub.url}/hub/authorize/{stranger}")
    assert response.status == 403, response.status
    assert "from the list at /hub/authorize" in admin.content()

    welcome = submit_login(chromium, hub.url, user, password)
    assert welcome.url.endswith("/hub/home"), welcome.url
    assert hub.api("GET", f"/users/{user}").status_code == 200
    # the password is stored as a bcrypt hash in the stack's PostgreSQL, never as itself
    stored = _sql(hub, hub.stack, "jupyterhub",
                  f"select encode(password, 'escape') from users_info where username = '{user}'").strip()
    assert stored.startswith("$2b$") and password not in stored, stored


def test_one_persons_cookie_does_not_open_anothers_server_or_api(hub, chromium):
    tag = free_port() % 10000
    ann, bob = f"ann-{tag}", f"bob-{tag}"
    ann_password = hub.account(ann, ["analysts"])
    hub.account(bob, ["analysts"])
    r = hub.spawn(bob, REQUEST)
    assert r.status_code in (201, 202), r.text
    try:
        hub.wait_ready(bob)
        page = submit_login(chromium, hub.url, ann, ann_password)
        assert page.url.endswith("/hub/home"), page.url
        # Bob's server, through the proxy, with Ann's cookies: the hub refuses her the OAuth step
        for path in (f"/user/{bob}/lab", f"/user/{bob}/api/contents", f"/user/{bob}/files/"):
            response = page.goto(hub.url + path)
            assert response.status == 403, (path, response.status, page.url)
        # the hub's API, from the hub's own page with Ann's cookie and XSRF token: her user, not Bob's
        # (the hub answers 404 for a user one may not see, so as not to tell that he exists)
        page.goto(f"{hub.url}/hub/home")
        statuses = page.evaluate("""async (calls) => {
            const out = [];
            for (const [method, path] of calls) {
                const r = await fetch(path, {method, headers: {"X-XSRFToken": window.jhdata.xsrf_token}});
                out.push([method, path, r.status]);
            }
            return out;
        }""", [["GET", f"/hub/api/users/{ann}"], ["GET", f"/hub/api/users/{bob}"],
               ["DELETE", f"/hub/api/users/{bob}/server"], ["POST", f"/hub/api/users/{bob}/tokens"]])
        assert statuses[0][2] == 200, statuses
        assert all(status in (403, 404) for _, _, status in statuses[1:]), statuses
        assert hub.server_model(bob)["ready"]  # her requests stopped nothing
    finally:
        hub.stop(bob)


def test_repeated_wrong_passwords_lock_the_account(hub, chromium):
    user = f"locked-{free_port() % 10000}"
    password = hub.account(user)
    for _ in range(5):
        assert refusal(submit_login(chromium, hub.url, user, "not-the-password-" + user)) == (
            "Invalid username or password.")
    locked = refusal(submit_login(chromium, hub.url, user, password))
    assert locked.startswith(f"Too many failed logins for {user}: the account is locked for"), locked
    # another person is not locked out with them
    other = f"unlocked-{free_port() % 10000}"
    other_password = hub.account(other)
    assert submit_login(chromium, hub.url, other, other_password).url.endswith("/hub/home")


def test_no_shared_password_logs_in_under_another_persons_name(hub, stack_settings, chromium):
    tag = free_port() % 10000
    # a quota manager an admin added to the hub (no password of his own yet), one with an account,
    # and a name nobody has
    manager, member, nobody = f"manager-{tag}", f"member-{tag}", f"anybody-{tag}"
    hub.create_user(manager, ["quota-managers"])
    # every password `up` generated that is not a person's own: none may open a person's name
    shared = {name: (stack_settings.secrets_dir / name).read_text().strip()
              for name in ("user_password", "admin_password") if (stack_settings.secrets_dir / name).exists()}
    assert "admin_password" in shared
    for name in (manager, nobody):
        for secret_name, value in shared.items():
            page = submit_login(chromium, hub.url, name, value)
            assert refusal(page) == "Invalid username or password.", (name, secret_name)
            page.context.close()
    hub.account(member, ["quota-managers"])
    for value in shared.values():
        assert refusal(submit_login(chromium, hub.url, member, value)) == "Invalid username or password."
    assert not (stack_settings.secrets_dir / "user_password").exists()
    assert hub.api("GET", f"/users/{quote(nobody)}").status_code == 404
