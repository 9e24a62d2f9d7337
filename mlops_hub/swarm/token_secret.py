"""The server's JupyterHub API token as a Swarm secret, never in the service's environment.

dockerspawner puts JUPYTERHUB_API_TOKEN in the container environment, where
`docker service inspect` shows it to anyone with Docker access. Here the token is a Swarm
secret mounted 0400 for the server's user; a `/bin/sh` wrapper exports it just before the
server's own command runs, so any image with a shell works unchanged.
"""

from __future__ import annotations

import hashlib

from docker.errors import APIError
from docker.types import SecretReference

from ..names import ENV_HUB_TOKEN_FILE
from .labels import token_secret_labels

TOKEN_VARIABLES = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
SECRET_FILENAME = "jupyterhub_api_token"
SECRET_PATH = f"/run/secrets/{SECRET_FILENAME}"
_EXPORT = (
    'JUPYTERHUB_API_TOKEN="$(cat "$JUPYTERHUB_API_TOKEN_FILE")"; JPY_API_TOKEN="$JUPYTERHUB_API_TOKEN";'
    ' export JUPYTERHUB_API_TOKEN JPY_API_TOKEN; exec "$@"'
)


def take_token(env: dict[str, str]) -> str:
    """Remove the token from `env` (it points at the secret file instead) and return it."""
    token = ""
    for name in TOKEN_VARIABLES:
        token = env.pop(name, "") or token
    env[ENV_HUB_TOKEN_FILE] = SECRET_PATH
    return token


def secret_name(service_name: str, token: str) -> str:
    """Unique per token, and within Swarm's 64-character limit for names."""
    digest = hashlib.sha256(f"{service_name}\0{token}".encode()).hexdigest()[:10]
    return f"{service_name[:42]}-api-token-{digest}"


def wrap_args(args: list[str]) -> list[str]:
    """Arguments that export the token from the secret file, then run `args`."""
    return ["/bin/sh", "-c", _EXPORT, "mlops-hub-start", *args]


def secret_reference(secret_id: str, name: str, owner: str) -> SecretReference:
    """Readable by the server's user only: `owner` is its numeric 'uid:gid' (see image_user)."""
    uid, _, gid = owner.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        # a 0444 file would let every process in the container read the token
        raise ValueError(f"the token secret needs a numeric uid:gid owner, got {owner!r}")
    return SecretReference(secret_id, name, filename=SECRET_FILENAME, uid=uid, gid=gid, mode=0o400)


async def create_token_secret(docker_call, prefix: str, service_name: str, token: str, owner: str,
                              log=None, replace: bool = True) -> SecretReference:
    """A new secret holding the token. With `replace`, any earlier one of `service_name` (left by a server
    that did not stop cleanly) is removed first; without, the caller removes the old ones when done."""
    if replace:
        await remove_token_secrets(docker_call, prefix, service_name, log)
    name = secret_name(service_name, token)
    created = await docker_call("create_secret", name, token.encode(),
                                labels=token_secret_labels(prefix, service_name))
    return secret_reference(created["ID"], name, owner)


def mounted_token_secret(references: list[dict]) -> str | None:
    """The name of the token secret among a service's secret references (docker API casing), if any."""
    for reference in references:
        if (reference.get("File") or {}).get("Name") == SECRET_FILENAME:
            return reference.get("SecretName")
    return None


async def remove_token_secrets(docker_call, prefix: str, service_name: str, log=None, keep: str | None = None,
                               only: str | None = None) -> None:
    """Remove the token secrets of `service_name`: all, all but the one named `keep`, or only the one named `only`."""
    selector = [f"{k}={v}" for k, v in token_secret_labels(prefix, service_name).items()]
    for secret in await docker_call("secrets", filters={"label": selector}):
        if secret["Spec"]["Name"] == keep or only not in (None, secret["Spec"]["Name"]):
            continue
        try:
            await docker_call("remove_secret", secret["ID"])
        except APIError as e:
            if log is not None:
                log.warning("Could not remove secret %s yet: %s", secret["Spec"]["Name"], e)
