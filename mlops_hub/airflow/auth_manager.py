"""Airflow's auth manager for the platform: the hub's login is Airflow's login (docs/scheduling.md).

- People arrive through the edge (nginx), which asked the hub's login check and overwrote
  `X-Mlops-User` / `X-Mlops-Admin`. `GET <airflow>/auth/login` turns them into Airflow's JWT cookie.
  Every later request through the edge must carry a token of that same person with the same admin flag,
  or Airflow refuses the token (its UI then logs in again, as whoever the edge names now).
- The hub itself is the service identity `mlops-hub` (an admin): `POST <airflow>/auth/token`
  {"username", "password"} with the Swarm secret `airflow_hub_password`, from inside the stack only.
- The rules (mlops_hub/airflow/access.py): a person uses the DAGs whose spec file names them `owner`,
  with their runs, task instances and logs; admins everything.

Configured as `[core] auth_manager = mlops_hub.airflow.auth_manager.HubAuthManager` (images/airflow).
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.api_fastapi.app import API_ROOT_PATH, AUTH_MANAGER_FASTAPI_APP_PREFIX, get_cookie_path
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN, BaseAuthManager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, RedirectResponse
from jwt import InvalidTokenError

from .access import (
    HUB_IDENTITY,
    PERSON_MENU,
    PERSON_VIEWS,
    EdgeHeaderError,
    Identity,
    SpecOwners,
    edge_identity,
    hub_password_ok,
    may_use_dag,
    safe_next,
    token_matches_edge,
)

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagDetails
    from airflow.api_fastapi.common.types import MenuItem

HUB_PASSWORD_FILE = "/run/secrets/airflow_hub_password"
JOBS_DIR = "/opt/airflow/dags/jobs"  # where the hub writes `<dag_id>.json` (the spec) and its stub


class HubUser(Identity, BaseUser):
    """Airflow's user object for an Identity."""

    def get_id(self) -> str:
        return self.name

    def get_name(self) -> str:
        return self.name


# the edge's identity of the request being served: set by EdgeIdentityMiddleware, read where Airflow
# checks a token (get_user_from_token has no request)
_edge_identity: contextvars.ContextVar[tuple[str, bool] | None] = contextvars.ContextVar(
    "mlops_edge_identity", default=None)


class _Headers:
    """Case-insensitive .get() over ASGI's raw headers."""

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._h: dict[str, str] = {}
        for key, value in raw:
            self._h.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))

    def get(self, key: str, default=None):
        return self._h.get(key.lower(), default)


class EdgeIdentityMiddleware:
    """Remembers the edge's identity for the request (pure ASGI, so everything the request runs sees
    it); a malformed identity header is refused (the edge never sends one)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            identity = edge_identity(_Headers(scope["headers"]))
        except EdgeHeaderError as e:
            return await JSONResponse({"detail": str(e)}, status_code=401)(scope, receive, send)
        reset = _edge_identity.set(identity)
        try:
            await self.app(scope, receive, send)
        finally:
            _edge_identity.reset(reset)


class HubAuthManager(BaseAuthManager[HubUser]):
    """The hub's login and the owner rules, as Airflow's auth manager."""

    def __init__(self, jobs_dir: str | Path | None = None, hub_password_file: str | Path | None = None):
        super().__init__()
        self.owners = SpecOwners(jobs_dir or os.environ.get("MLOPS_AIRFLOW_JOBS_DIR", JOBS_DIR))
        self.hub_password_file = Path(hub_password_file or os.environ.get(
            "MLOPS_AIRFLOW_HUB_PASSWORD_FILE", HUB_PASSWORD_FILE))

    # ---- identities and tokens
    def serialize_user(self, user: HubUser) -> dict[str, Any]:
        return {"sub": user.name, "admin": user.admin, "service": user.service}

    def deserialize_user(self, token: dict[str, Any]) -> HubUser:
        return HubUser(name=token["sub"], admin=token.get("admin") is True, service=token.get("service") is True)

    async def get_user_from_token(self, token: str) -> BaseUser:
        user = await super().get_user_from_token(token)
        if not token_matches_edge(user, _edge_identity.get()):
            # Airflow answers 403 "Invalid JWT token" and drops the cookie; its UI logs in again
            raise InvalidTokenError("the token belongs to another hub login")
        return user

    def get_fastapi_middlewares(self):
        return [(EdgeIdentityMiddleware, {})]

    def get_url_login(self, **kwargs) -> str:
        login = f"{AUTH_MANAGER_FASTAPI_APP_PREFIX}/login"
        next_url = kwargs.get("next_url")
        return f"{login}?next={quote(str(next_url), safe='')}" if next_url else login

    def get_url_logout(self) -> str | None:
        return "/hub/logout"  # one login: leaving Airflow leaves the hub

    def get_fastapi_app(self) -> FastAPI | None:
        return login_app(self)

    # ---- authorization
    def is_authorized_dag(self, *, method, user: HubUser, access_entity=None,
                          details: DagDetails | None = None) -> bool:
        dag_id = details.id if details else None
        owner = None if user.is_admin or dag_id is None else self.owners.owner(dag_id)
        return may_use_dag(user, method, owner, dag_id, access_entity)

    def filter_authorized_dag_ids(self, *, dag_ids: set[str], user: HubUser, method="GET",
                                  team_name: str | None = None) -> set[str]:
        if user.is_admin:
            return set(dag_ids)
        return {d for d in dag_ids if may_use_dag(user, method, self.owners.owner(d), d)}

    def is_authorized_configuration(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_connection(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_pool(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_variable(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_asset(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_asset_alias(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin

    def is_authorized_team(self, *, method, user: HubUser, details=None) -> bool:
        return user.is_admin  # one Airflow for the platform: no Airflow teams

    def is_authorized_view(self, *, access_view: AccessView, user: HubUser) -> bool:
        return user.is_admin or access_view.name in PERSON_VIEWS

    def is_authorized_custom_view(self, *, method, resource_name: str, user: HubUser) -> bool:
        return user.is_admin

    def filter_authorized_menu_items(self, menu_items: list[MenuItem], *, user: HubUser) -> list[MenuItem]:
        return [item for item in menu_items if user.is_admin or item.value in PERSON_MENU]


def login_app(manager: HubAuthManager) -> FastAPI:
    """The auth manager's routes, mounted by Airflow at <airflow>/auth."""
    app = FastAPI(title="mlops-hub login for Airflow", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/login")
    def login(request: Request, next: str | None = None):  # noqa: A002 - the parameter Airflow's UI sends
        # only the edge sets these headers (it overwrites a client's copies): Airflow is on an internal network
        try:
            identity = edge_identity(request.headers)
        except EdgeHeaderError as e:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e)) from e
        if identity is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "open Airflow at https://<host>/airflow/ (the hub's login)")
        name, admin = identity
        if name == HUB_IDENTITY:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{HUB_IDENTITY} is the hub's own Airflow identity")
        response = RedirectResponse(safe_next(next, API_ROOT_PATH or "/"), status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(COOKIE_NAME_JWT_TOKEN, manager.generate_jwt(HubUser(name, admin)), path=get_cookie_path(),
                            secure=True, httponly=True, samesite="lax")  # the edge serves https only
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/token", status_code=status.HTTP_201_CREATED)
    async def token(request: Request):
        # the hub's identity, from inside the stack: never on a request the edge forwarded for a person
        if _edge_identity.get() is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the service identity is the hub's, inside the stack")
        try:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body = dict(await request.form())
            else:
                body = await request.json()
            username, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError) as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, 'send {"username": ..., "password": ...}') from e
        if not hub_password_ok(manager.hub_password_file, username, password):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid credentials")
        return {"access_token": manager.generate_jwt(HubUser(HUB_IDENTITY, admin=True, service=True))}

    return app
