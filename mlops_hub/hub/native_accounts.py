"""Per-person accounts: NativeAuthenticator (sign-up, admin approval, bcrypt hashes in the hub's
database, lockout after failed logins), with what this platform adds to it:

- the first admin's account is created when the hub starts, from a password file (the admin_password
  Swarm secret), before the hub answers any request: nobody can sign up under that name first. An
  account that exists is never changed (its password may have been changed since);
- a sign-up approves nobody by itself: NativeAuthenticator approves a sign-up whose name is in
  admin_users, so a stranger who signed up first under a listed admin's name would be an admin;
- a refused sign-up or password says which field and why; a login refused by the lockout says so
  (to whoever gives the right password, so the message does not tell strangers which names exist);
- approving, unapproving and discarding accounts (plain links, GET) work only from the hub's own pages,
  not from a link on another site or in a mail (Sec-Fetch-Site, sent by browsers, cannot be forged).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import bcrypt
from jupyterhub.scopes import needs_scope
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import (
    DiscardHandler,
    LoginHandler,
    SignUpHandler,
    ToggleAuthorizationHandler,
)
from nativeauthenticator.orm import UserInfo
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Unicode

MAX_PASSWORD_BYTES = 72  # bcrypt hashes only this many bytes
MAX_USERNAME_LENGTH = 128  # users_info.username is VARCHAR(128)
# a name in a URL path of the hub's pages (/hub/authorize/NAME, /user/NAME/): these would break it
FORBIDDEN_IN_NAMES = {",", "/", "?", "#", "%", "\\"}


class MLOpsNativeAuthenticator(NativeAuthenticator):
    first_admin = Unicode("admin", config=True, help="The admin account created at start if it does not exist.")
    admin_password_file = Unicode(
        "", config=True,
        help="File holding the first admin's initial password (read once at start, stored only as a hash).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ensure_first_admin()
        if self.parent is not None and hasattr(self.parent, "template_vars"):
            # page.html shows the accounts' nav links (change password, authorize) only with this login
            self.parent.template_vars = {**self.parent.template_vars, "mlops_native_accounts": True}

    # ---- the first admin -------------------------------------------------------------
    def ensure_first_admin(self) -> bool:
        """Create the first admin's approved account from the password file; True if created."""
        if not self.admin_password_file:
            return False
        name = self.normalize_username(self.first_admin)
        if UserInfo.find(self.db, name) is not None:
            self.log.info("[mlops-hub] account %s exists; its password is kept", name)
            return False
        path = Path(self.admin_password_file)
        if not path.is_file():
            raise ValueError(f"MLOpsNativeAuthenticator.admin_password_file: {path} does not exist")
        password = path.read_text().strip()
        problem = self.password_problem(password)
        if problem:
            raise ValueError(f"{path}: the first admin's {problem}")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
        self.db.add(UserInfo(username=name, password=hashed, is_authorized=True))
        self.db.commit()
        self.log.info("[mlops-hub] created the admin account %s (its password: the admin_password secret)", name)
        return True

    # ---- sign-up: who is approved, what is accepted ------------------------------------
    def get_authed_users(self) -> set[str]:
        # approved accounts only: a name listed in admin_users or allowed_users approves no sign-up
        return {info.username for info in UserInfo.all_users(self.db) if info.is_authorized}

    def username_problem(self, username: str) -> str | None:
        if not username:
            return "username: required"
        if len(username) > MAX_USERNAME_LENGTH:
            return f"username: at most {MAX_USERNAME_LENGTH} characters"
        if any(ch.isspace() for ch in username) or FORBIDDEN_IN_NAMES & set(username):
            return "username: must not contain spaces or any of , / ? # % \\"
        if not NativeAuthenticator.validate_username(self, username):
            return "username: not allowed by this hub's username rule"
        return None

    def password_problem(self, password: str) -> str | None:
        if len(password) < self.minimum_password_length:
            return f"password: at least {self.minimum_password_length} characters"
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            return f"password: at most {MAX_PASSWORD_BYTES} bytes (UTF-8)"
        if self.check_common_password and self.is_password_common(password):
            return "password: too common (it is on a list of leaked passwords); choose another"
        return None

    def validate_username(self, username: str) -> bool:
        return self.username_problem(username) is None

    def is_password_strong(self, password: str) -> bool:
        # sign-up and both password-change pages go through here
        return self.password_problem(password) is None

    # ---- lockout ------------------------------------------------------------------------
    def lockout_seconds_left(self, username: str) -> int:
        name = self.normalize_username(username)
        if not self.allowed_failed_logins or not self.is_blocked(name):
            return 0
        since = (datetime.now() - self.login_attempts[name]["time"]).total_seconds()
        return max(1, round(self.seconds_before_next_try - since))

    def password_matches(self, username: str, password: str) -> bool:
        info = self.get_user(username)
        return bool(info and len(password.encode()) <= MAX_PASSWORD_BYTES and info.is_valid_password(password))

    def get_handlers(self, app):
        ours = {r"/login": AccountsLoginHandler, r"/signup": AccountsSignUpHandler,
                r"/discard/([^/]*)": SameSiteDiscardHandler, r"/authorize/([^/]*)": SameSiteToggleHandler}
        return [(path, ours.get(path, handler)) for path, handler in super().get_handlers(app)]


class AccountsSignUpHandler(SignUpHandler):
    def get_result_message(self, user, assume_user_is_human, username_already_taken, confirmation_matches,
                           user_is_admin):
        if user is None and assume_user_is_human and not username_already_taken and confirmation_matches:
            problem = (self.authenticator.username_problem(self.get_body_argument("username", "", strip=False))
                       or self.authenticator.password_problem(
                           self.get_body_argument("signup_password", "", strip=False)))
            if problem:
                return "alert-danger", f"Not signed up: {problem}."
        if user is not None and not user.is_authorized:
            return "alert-info", (f"Account {user.username} created. You can log in once an admin has"
                                  " approved it.")
        # no sign-up is approved in advance, whatever the name (see MLOpsNativeAuthenticator.get_authed_users)
        return super().get_result_message(user, assume_user_is_human, username_already_taken,
                                          confirmation_matches, False)


class AccountsLoginHandler(LoginHandler):
    """NativeAuthenticator's login page on JupyterHub 6: its own post() reads `self.statsd`, which
    JupyterHub 6 removed (every login was a 500), and its _render() cannot render synchronously, as
    JupyterHub does for a login form's errors (an expired form was a 500 too)."""

    def _render(self, login_error=None, username=None, sync=False, **_page_context):
        auth = self.authenticator
        next_url = self.get_argument("next", default="")
        return self.render_template(
            "native-login.html", sync=sync, next=url_escape(next_url), username=username,
            login_error=login_error, custom_html=auth.get_custom_html(self.hub.base_url),
            login_url=self.settings["login_url"], enable_signup=auth.enable_signup,
            two_factor_auth=auth.allow_2fa, xsrf=self.xsrf_token.decode("ascii"),
            authenticator_login_url=url_concat(auth.login_url(self.hub.base_url), {"next": next_url}))

    async def post(self):
        data = {name: self.get_argument(name, strip=False) for name in self.request.arguments}
        data.setdefault("username", "")
        data.setdefault("password", "")
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        html = await self._render(login_error=self.refusal(data["username"], data["password"]),
                                  username=data["username"])
        self.finish(html)

    def refusal(self, username: str, password: str) -> str:
        """Why the login failed: more than 'invalid' only to whoever gave the account's right password."""
        auth = self.authenticator
        if not username or not auth.password_matches(username, password):
            return "Invalid username or password."
        left = auth.lockout_seconds_left(username)
        if left:
            return f"Too many failed logins for {username}: the account is locked for {left} more seconds."
        if not auth.get_user(username).is_authorized:
            return f"User {username} has not been authorized by an administrator yet."
        return "Invalid username or password."


class SameSiteOnly:
    """Refuse a GET that changes an account unless the browser says it came from the hub's own page."""

    async def prepare(self):
        site = self.request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            raise web.HTTPError(403, "Approve, unapprove or discard accounts from the list at /hub/authorize,"
                                     " not from a link.")
        await super().prepare()


class SameSiteToggleHandler(SameSiteOnly, ToggleAuthorizationHandler):
    @needs_scope("admin:users")  # before the lookup: a 404 must not tell others which accounts exist
    async def get(self, slug):
        if self.authenticator.get_user(slug) is None:
            raise web.HTTPError(404, f"No account {slug}")  # NativeAuthenticator answers a 500 here
        await super().get(self.authenticator.normalize_username(slug))


class SameSiteDiscardHandler(SameSiteOnly, DiscardHandler):
    pass
