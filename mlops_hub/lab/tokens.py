"""Where the user's GitLab token comes from, at request time. Tokens are never stored on disk."""

from __future__ import annotations

import json
import os
from typing import Protocol, runtime_checkable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .errors import LabError


@runtime_checkable
class TokenSource(Protocol):
    """Gives the GitLab token to act with for `user`, or None when there is none."""

    async def token_for(self, user: str) -> str | None: ...


class StaticTokenSource:
    """A fixed token (tests, or a deployment that injects one per server)."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    async def token_for(self, user: str) -> str | None:
        return self._token


class SavedTokenSource:
    """Tokens a user handed to this server through the API; kept in memory only."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def save(self, user: str, token: str) -> None:
        self._tokens[user] = token

    def forget(self, user: str) -> bool:
        return self._tokens.pop(user, None) is not None

    def has(self, user: str) -> bool:
        return user in self._tokens

    async def token_for(self, user: str) -> str | None:
        return self._tokens.get(user)


class HubAuthStateTokenSource:
    """The OAuth access token GitLabOAuthenticator keeps in the hub's auth_state.

    Asks `GET {JUPYTERHUB_API_URL}/user` with this server's API token; the hub includes
    `auth_state` only if that token has the `admin:auth_state!user` scope (the spawner
    grants it through `server_token_scopes`).
    """

    def __init__(self, api_url: str | None = None, api_token: str | None = None,
                 timeout: float = 10) -> None:
        self.api_url = (api_url or os.environ.get("JUPYTERHUB_API_URL", "")).rstrip("/")
        self._api_token = api_token or os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.timeout = timeout

    async def token_for(self, user: str) -> str | None:
        if not (self.api_url and self._api_token):
            return None  # not running under JupyterHub
        # with JupyterHub's internal_ssl the hub API wants the server's client certificate
        ssl = {k: os.environ[v] for k, v in (("ca_certs", "JUPYTERHUB_SSL_CLIENT_CA"),
                                             ("client_cert", "JUPYTERHUB_SSL_CERTFILE"),
                                             ("client_key", "JUPYTERHUB_SSL_KEYFILE"))
               if os.environ.get(v)}
        req = HTTPRequest(
            f"{self.api_url}/user",
            headers={"Authorization": f"token {self._api_token}"},
            request_timeout=self.timeout,
            **ssl,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as exc:
            if exc.code in (401, 403):
                return None
            raise LabError(f"the hub answered {exc.code} when asked for your GitLab login; "
                           "try again, or save a token", status=502,
                           reason="hub-unavailable") from None
        except OSError as exc:
            raise LabError(f"the hub at {self.api_url} is unreachable ({exc.strerror or exc}); "
                           "try again later, or save a GitLab token", status=502,
                           reason="hub-unavailable") from None
        model = json.loads(resp.body)
        if model.get("name") != user:
            return None  # the hub token belongs to the server's owner, not this user
        auth_state = model.get("auth_state") or {}
        token = auth_state.get("access_token")
        return token if isinstance(token, str) and token else None


class ChainTokenSource:
    """The first token any of `sources` gives."""

    def __init__(self, *sources: TokenSource) -> None:
        self.sources = sources

    async def token_for(self, user: str) -> str | None:
        for source in self.sources:
            token = await source.token_for(user)
            if token:
                return token
        return None
