"""The front door's login check for a web tool behind nginx (MLflow): a JupyterHub service.

nginx asks `GET /<tool>/_edge/check` before it passes any request to `/<tool>/` (auth_request),
with the request's own Cookie and Authorization headers. This service answers:

- 200 with `X-Mlops-User` (the hub user name, percent-encoded UTF-8) and `X-Mlops-Admin`, when the
  request carries the user's hub token (`Authorization: token ...`, what lab servers and jobs send)
  or the tool's login cookie, and the user may use the tool (scope `access:services!service=<tool>`);
- 403 when nginx asks for an admin (`X-Mlops-Require-Admin: true`, the monitoring tools) and the user is
  not one;
- 401 otherwise; nginx then sends the request here as it was, and a browser is redirected through
  the hub's OAuth login (no second password) while an API client gets a JSON 401.

The cookie is the tool's own, set on its path only (`/<tool>/`): a user's server under `/user/<name>/`
never sees it, so no one can take a visitor's MLflow login by luring them to their own server.
Run by the hub (`configure_edge` in mlops_hub/hub/edge.py) as `python -m mlops_hub.hub.edge_check`.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from tornado import ioloop, web

from ..names import EDGE_ADMIN_HEADER, EDGE_REQUIRE_ADMIN_HEADER, EDGE_USER_HEADER
from ..policy.model_release import MODEL_NAME_RE, SERVICE_PREFIX

# writes a browser may send with the tool's cookie: only from the platform's own pages
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FIRST_PARTY = ("same-origin", "none")


MODELS_CHECKED_BY = "mlflow"


def tool_prefix(tool: str) -> str:
    return f"/{tool}/"


class ToolAuth(HubOAuthenticated):
    """The one HubOAuth of this tool (in the application's settings), asked without blocking."""

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    async def allowed_user(self) -> dict | None:
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            return None
        try:
            return self.check_hub_user(model)  # the scope access:services!service=<tool>
        except UserNotAllowed:
            return None


class CheckHandler(ToolAuth, web.RequestHandler):
    """nginx's auth_request: who is this request's user, if anyone."""

    async def get(self):
        user = await self.allowed_user()
        if user is None or user.get("kind", "user") != "user":
            return self._answer(401, "no hub login or token, or no access to this tool")
        method = self.request.headers.get("X-Original-Method", "GET").upper()
        site = self.request.headers.get("Sec-Fetch-Site")
        cookie_login = not getattr(self, "_token_authenticated", False)
        if cookie_login and method not in SAFE_METHODS and site is not None and site not in FIRST_PARTY:
            # another site's page made the browser send this write with the user's cookie
            return self._answer(403, f"cross-site {method} refused")
        # nginx asks so for the admins-only tools: their metrics name every user
        if self.request.headers.get(EDGE_REQUIRE_ADMIN_HEADER) == "true" and not user.get("admin"):
            return self._answer(403, "this tool is for the hub's admins only")
        self.set_header(EDGE_USER_HEADER, quote(user["name"], safe=""))
        self.set_header(EDGE_ADMIN_HEADER, "true" if user.get("admin") else "false")
        self._answer(200, "ok")

    def check_xsrf_cookie(self):
        # JupyterHub's XSRF token belongs to its own pages; the tool's pages (MLflow's UI) never
        # send it, so every fetch() of theirs would lose the cookie. Writes are guarded above
        # (Sec-Fetch-Site) and by the cookie's SameSite=Lax instead.
        pass

    def _answer(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(message)


class ModelCheckHandler(ToolAuth, web.RequestHandler):
    """nginx's auth_request for /models/<name>/: a hub token (never a cookie) that may use the JupyterHub
    service `model-<name>` (scope `access:services!service=model-<name>`). 401 without a token, 403 with one
    that lacks the scope; the model's name comes from the URI nginx asks about."""

    async def get(self):
        model = model_in_uri(self.request.headers.get("X-Original-URI", ""))
        if model is None:
            return self._answer(404, "no such model path")
        user = await self.hub_auth.get_user(self, sync=False)
        if not user or not getattr(self, "_token_authenticated", False):
            return self._answer(401, "a hub token is needed: Authorization: token <token>")
        if not self.hub_auth.check_scopes(model_scope(model), user):
            return self._answer(403, f"this token may not call {SERVICE_PREFIX}{model}")
        self.set_header(EDGE_USER_HEADER, quote(user["name"], safe=""))
        self._answer(200, "ok")

    def _answer(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(message)


def model_in_uri(uri: str) -> str | None:
    """The model of `/models/<name>/...` when <name> can name a model service; None otherwise."""
    parts = uri.split("?", 1)[0].split("/")
    if len(parts) < 3 or parts[0] or parts[1] != "models" or not MODEL_NAME_RE.match(parts[2]):
        return None
    return parts[2]


def model_scope(model: str) -> str:
    return f"access:services!service={SERVICE_PREFIX}{model}"


class LoginHandler(ToolAuth, web.RequestHandler):
    """Where nginx sends a request the check refused: a browser page load starts the hub's OAuth
    login and comes back to the same URL; anything else gets a JSON 401."""

    def _refuse(self):
        self.set_status(401)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({
            "error_code": "UNAUTHENTICATED",
            "message": "log in to the hub in your browser first, or send your hub API token:"
                       " Authorization: token <token>",
        }))

    def _wants_page(self) -> bool:
        accept = self.request.headers.get("Accept", "")
        return self.request.method == "GET" and "text/html" in accept

    async def get(self, *_):
        if not self._wants_page():
            return self._refuse()
        self.redirect(self.get_login_url())

    async def post(self, *_):
        self._refuse()

    put = patch = delete = head = options = post

    def check_xsrf_cookie(self):
        pass  # nothing is changed here: the only write is the OAuth state cookie of a login


class CallbackHandler(ToolAuth, HubOAuthCallbackHandler):
    """Finishes the hub's OAuth login: sets the tool's cookie, back to the page asked for."""


class ServicesLinkHandler(web.RequestHandler):
    """The hub's Services menu links to /services/<tool>/: send the browser to the tool."""

    def initialize(self, target: str) -> None:
        self.target = target

    def get(self, *_):
        self.redirect(self.target)


def cookie_secret(path: Path) -> bytes:
    """Kept in the hub's volume, so a restart of this service keeps people logged in."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def make_app(tool: str, secret: bytes, cache_seconds: int = 60) -> web.Application:
    prefix = tool_prefix(tool)
    hub_auth = HubOAuth(
        base_url=prefix,  # the login cookie's path: the tool only
        oauth_redirect_uri=f"{prefix}_edge/oauth_callback",
        cache_max_age=cache_seconds,  # an admin's demotion reaches the tool within this time
        cookie_options={"secure": True, "samesite": "Lax"},
        allow_token_in_url=False,  # tokens never travel in URLs (they end up in logs and histories)
    )
    handlers = [
        (f"{prefix}_edge/check", CheckHandler),
        # served models (/models/<name>/): asked of MLflow's check, as one more hub-token check needs no process
        *([("/models/_edge/check", ModelCheckHandler)] if tool == MODELS_CHECKED_BY else []),
        (f"{prefix}_edge/oauth_callback", CallbackHandler),
        (f"/services/{tool}/?(.*)", ServicesLinkHandler, {"target": prefix}),
        (f"{prefix}(.*)", LoginHandler),
    ]
    return web.Application(handlers, hub_auth=hub_auth, cookie_secret=secret, login_url=hub_auth.login_url,
                           xsrf_cookies=False)


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    tool = args[0] if args else os.environ.get("JUPYTERHUB_SERVICE_NAME", "mlflow")
    url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://0.0.0.0:8082"))
    secret_file = Path(os.environ.get("MLOPS_EDGE_COOKIE_SECRET_FILE", f"/srv/jupyterhub/edge_{tool}_cookie_secret"))
    app = make_app(tool, cookie_secret(secret_file))
    # every interface: nginx reaches this service through the stack's network
    app.listen(url.port or 8082, address="0.0.0.0")
    print(f"[mlops-hub] login check for /{tool}/ listening on port {url.port or 8082}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
