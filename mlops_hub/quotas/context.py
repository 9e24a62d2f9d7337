"""What the hub's handlers need from the spawner's settings, read from the hub's config.

The handlers run without a spawner instance, so they read `environments`, `role_policies`,
`prefix` and `admin_contact` the way traitlets would: the spawner class's sections in the
config, base classes first.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..policy.environments import EnvironmentCatalogue
from ..policy.pools import Charge
from .running import load_running, threaded_docker_call

WRITE_SCOPE = "custom:mlops-quotas:write"
READ_SCOPE = "custom:mlops-quotas:read"


def config_value(config, spawner_class, name: str):
    trait = spawner_class.class_traits().get(name)
    value = trait.default() if trait is not None else None
    for cls in reversed(spawner_class.mro()):
        section_name = cls.__name__
        if section_name in config and name in config[section_name]:
            value = config[section_name][name]
    return value


@dataclass
class HubQuotaContext:
    catalogue: EnvironmentCatalogue
    role_policies: dict
    prefix: str
    admin_contact: str

    @classmethod
    def from_settings(cls, settings: dict) -> HubQuotaContext:
        config, spawner_class = settings["config"], settings["spawner_class"]
        environments = config_value(config, spawner_class, "environments") or []
        return cls(
            catalogue=EnvironmentCatalogue.from_config(environments),
            role_policies=dict(config_value(config, spawner_class, "role_policies") or {}),
            prefix=config_value(config, spawner_class, "prefix") or "jupyter",
            admin_contact=config_value(config, spawner_class, "admin_contact") or "your platform administrators",
        )

    async def load_running(self) -> list[Charge]:
        return await load_running(threaded_docker_call(_docker_client()), self.prefix)


_client = None


def _docker_client():
    global _client
    if _client is None:
        import docker

        _client = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
    return _client


def can_edit(handler) -> bool:
    user = handler.current_user
    if user is None:
        return False
    scopes = handler.expanded_scopes
    return (bool(getattr(user, "admin", False)) and "admin:users" in scopes) or WRITE_SCOPE in scopes


def can_read(handler) -> bool:
    return can_edit(handler) or (handler.current_user is not None and READ_SCOPE in handler.expanded_scopes)


def actor_name(handler) -> str:
    user = handler.current_user
    kind = "service" if user.__class__.__name__ == "Service" else "user"
    return f"{kind}:{user.name}"
