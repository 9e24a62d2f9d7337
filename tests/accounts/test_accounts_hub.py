"""Per-person accounts in a real JupyterHub process: the first admin, sign-up and approval, what sign-up
refuses and why, the lockout, links from elsewhere, and the shared-password mode kept behind its flag."""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import quote

import requests

from .conftest import ADMIN_PASSWORD, USER_PASSWORD, start_hub
from .forms import logged_in, login_error, signup, try_login

GOOD = "correct horse battery staple 7"


def admin_session(hub) -> requests.Session:
    session, r = try_login(hub.url, "admin", ADMIN_PASSWORD)
    assert logged_in(r), (r.status_code, login_error(r))
    return session


def approve(hub, user: str) -> None:
    r = admin_session(hub).get(f"{hub.url}/hub/authorize/{quote(user)}", timeout=30)
    assert r.status_code == 200 and r.url.split("#")[0].endswith("/hub/authorize"), (r.status_code, r.url)


def test_first_admin_exists_at_start_with_the_secret_as_password(accounts_hub):
    _, r = try_login(accounts_hub.url, "admin", ADMIN_PASSWORD)
    assert logged_in(r), login_error(r)
    assert accounts_hub.api("GET", "/users/admin").json()["admin"] is True
    _, r = try_login(accounts_hub.url, "admin", ADMIN_PASSWORD + "x")
    assert not logged_in(r) and login_error(r) == "Invalid username or password."
    # nobody can take the name by signing up
    assert "already in use" in signup(accounts_hub.url, "admin", GOOD)


def test_sign_up_is_refused_until_an_admin_approves_it(accounts_hub):
    message = signup(accounts_hub.url, "ann", GOOD)
    assert message == "Account ann created. You can log in once an admin has approved it."
    _, r = try_login(accounts_hub.url, "ann", GOOD)
    assert not logged_in(r) and "has not been authorized by an administrator" in login_error(r)
    approve(accounts_hub, "ann")
    _, r = try_login(accounts_hub.url, "ann", GOOD)
    assert logged_in(r), login_error(r)
    _, r = try_login(accounts_hub.url, "ann", "wrong password here")
    assert not logged_in(r) and login_error(r) == "Invalid username or password."


def test_a_listed_admin_name_is_not_approved_by_signing_up(accounts_hub):
    # boss2 is in MLOPS_HUB_ADMIN_USERS but has no account yet: a stranger signing up first gets nothing
    assert "once an admin has approved it" in signup(accounts_hub.url, "boss2", GOOD)
    _, r = try_login(accounts_hub.url, "boss2", GOOD)
    assert not logged_in(r) and "has not been authorized" in login_error(r)


def test_refused_sign_ups_name_the_field_and_the_rule(accounts_hub):
    cases = [
        ("short-pw", "only9char", "Not signed up: password: at least 10 characters."),
        ("common-pw", "1234567890", "Not signed up: password: too common"),
        ("long-pw", "é" * 40, "Not signed up: password: at most 72 bytes (UTF-8)."),
        ("what?", GOOD, "Not signed up: username: must not contain spaces or any of , / ? # % \\."),
        ("a b", GOOD, "Not signed up: username: must not contain spaces"),
        ("x" * 129, GOOD, "Not signed up: username: at most 128 characters."),
    ]
    for user, password, expected in cases:
        assert signup(accounts_hub.url, user, password).startswith(expected), user
    assert "did not match the confirmation" in signup(accounts_hub.url, "typo", GOOD, confirmation=GOOD + "!")
    # a password longer than bcrypt takes is a refused login, not a server error
    _, r = try_login(accounts_hub.url, "admin", "x" * 100)
    assert r.status_code == 200 and login_error(r) == "Invalid username or password."


def test_unicode_name_signs_up_and_is_approved(accounts_hub):
    assert signup(accounts_hub.url, "Иван", GOOD) == "Account иван created. You can log in once an admin has" \
                                                      " approved it."
    page = admin_session(accounts_hub).get(f"{accounts_hub.url}/hub/authorize", timeout=30)
    assert "иван" in page.content.decode("utf8")
    approve(accounts_hub, "иван")
    _, r = try_login(accounts_hub.url, "иван", GOOD)
    assert logged_in(r), login_error(r)


def test_repeated_wrong_passwords_lock_the_account_for_a_while(accounts_hub):
    signup(accounts_hub.url, "bob", GOOD)
    approve(accounts_hub, "bob")
    for _ in range(3):
        _, r = try_login(accounts_hub.url, "bob", "not bobs password")
        assert not logged_in(r)
    _, r = try_login(accounts_hub.url, "bob", GOOD)
    assert not logged_in(r)
    assert login_error(r).startswith("Too many failed logins for bob: the account is locked for")
    # a wrong password during the lockout tells nothing more than any wrong password
    _, r = try_login(accounts_hub.url, "bob", "not bobs password")
    assert login_error(r) == "Invalid username or password."
    # other accounts are not affected
    _, r = try_login(accounts_hub.url, "admin", ADMIN_PASSWORD)
    assert logged_in(r)
    deadline = time.monotonic() + 30
    while True:  # the test hub locks for 4 seconds
        _, r = try_login(accounts_hub.url, "bob", GOOD)
        if logged_in(r) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert logged_in(r), login_error(r)


def test_approving_from_a_link_elsewhere_is_refused(accounts_hub):
    signup(accounts_hub.url, "mallory", GOOD)
    admin = admin_session(accounts_hub)
    for site in ("cross-site", "same-site", "none"):
        r = admin.get(f"{accounts_hub.url}/hub/authorize/mallory", headers={"Sec-Fetch-Site": site}, timeout=30)
        assert r.status_code == 403, (site, r.status_code)
        assert "from the list at /hub/authorize" in r.text
        r = admin.get(f"{accounts_hub.url}/hub/discard/mallory", headers={"Sec-Fetch-Site": site}, timeout=30)
        assert r.status_code == 403, (site, r.status_code)
    _, r = try_login(accounts_hub.url, "mallory", GOOD)
    assert "has not been authorized" in login_error(r)
    assert admin.get(f"{accounts_hub.url}/hub/authorize/nobody-here", timeout=30).status_code == 404
    # a non-admin cannot approve at all
    signup(accounts_hub.url, "carol", GOOD)
    approve(accounts_hub, "carol")
    carol, r = try_login(accounts_hub.url, "carol", GOOD)
    assert carol.get(f"{accounts_hub.url}/hub/authorize/mallory", timeout=30).status_code == 403
    assert carol.get(f"{accounts_hub.url}/hub/authorize/nobody-here", timeout=30).status_code == 403
    assert "has not been authorized" in login_error(try_login(accounts_hub.url, "mallory", GOOD)[1])


def test_nav_links_to_the_account_pages(accounts_hub):
    home = admin_session(accounts_hub).get(f"{accounts_hub.url}/hub/home", timeout=30).text
    assert 'id="mlops-change-password-link"' in home and 'id="mlops-authorize-link"' in home


def test_the_first_admins_changed_password_survives_a_restart(tmp_path):
    hub = start_hub(tmp_path)
    try:
        admin = admin_session(hub)
        page = admin.get(f"{hub.url}/hub/change-password", timeout=30)
        xsrf = page.text.split('name="_xsrf" value="')[1].split('"')[0]
        r = admin.post(f"{hub.url}/hub/change-password", timeout=30, data={
            "old_password": ADMIN_PASSWORD, "new_password": GOOD, "new_password_confirmation": GOOD, "_xsrf": xsrf})
        assert "changed successfully" in r.text
        hub.stop()
        hub.start()  # same database, same admin_password file
        assert "account admin exists; its password is kept" in hub.logs()
        assert not logged_in(try_login(hub.url, "admin", ADMIN_PASSWORD)[1])
        assert logged_in(try_login(hub.url, "admin", GOOD)[1])
        # the reset in docs/accounts.md for a lost admin password: delete the account's row, restart
        hub.stop()
        with sqlite3.connect(hub.db_url.removeprefix("sqlite:///")) as db:
            db.execute("delete from users_info where username = 'admin'")
        hub.start()
        assert "created the admin account admin" in hub.logs()
        assert logged_in(try_login(hub.url, "admin", ADMIN_PASSWORD)[1])
    finally:
        hub.remove()


def test_shared_password_mode_keeps_todays_login_and_warns(tmp_path):
    hub = start_hub(tmp_path, {"MLOPS_HUB_LOGIN": "shared-password"})
    try:
        assert "warning: shared-password login" in hub.logs()
        _, r = try_login(hub.url, "anyone-at-all", USER_PASSWORD)
        assert logged_in(r)
        assert requests.get(f"{hub.url}/hub/signup", timeout=30).status_code == 404
    finally:
        hub.remove()
