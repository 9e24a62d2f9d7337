"""What the hub's quota pages need from the spawner's settings, without a user's spawner.

One settings-only instance of the hub's spawner class (traitlets resolves its config sections as
for any spawner) gives the parsed platform, the prefix and the admin contact - made once per hub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..names import QUOTAS_READ_SCOPE, QUOTAS_WRITE_SCOPE
from ..policy.environments import EnvironmentCatalogue
from ..policy.pools import Charge
from .config import settings_only_spawner

_SETTINGS_KEY = "mlops_hub_quota_context"


@dataclass(frozen=True)
class HubQuotaContext:
    catalogue: EnvironmentCatalogue
    role_documents: dict[str, dict]
    prefix: str
    admin_contact: str
    load_running: Callable[[], Awaitable[list[Charge]]]

    @classmethod
    def from_settings(cls, settings: dict) -> HubQuotaContext:
        """Built at the first request and kept in the hub's settings (config does not change at run time)."""
        if _SETTINGS_KEY not in settings:
            spawner = settings_only_spawner(settings["spawner_class"], settings["config"])
            platform = spawner.platform
            settings[_SETTINGS_KEY] = cls(
                catalogue=platform.catalogue,
                role_documents=platform.role_documents if spawner.role_policies else {},
                prefix=spawner.prefix,
                admin_contact=spawner.admin_contact,
                load_running=spawner.pool_usage_loader(spawner.prefix),
            )
        return settings[_SETTINGS_KEY]


def can_edit(handler) -> bool:
    user = handler.current_user
    if user is None:
        return False
    scopes = handler.expanded_scopes
    return (bool(getattr(user, "admin", False)) and "admin:users" in scopes) or QUOTAS_WRITE_SCOPE in scopes


def can_read(handler) -> bool:
    return can_edit(handler) or (handler.current_user is not None and QUOTAS_READ_SCOPE in handler.expanded_scopes)


def actor_name(handler) -> str:
    user = handler.current_user
    kind = "service" if user.__class__.__name__ == "Service" else "user"
    return f"{kind}:{user.name}"
