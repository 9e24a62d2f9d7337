"""Pure policy: environments, the role model, team pools, and validation of a spawn request.

Nothing here imports docker, tornado or jupyterhub: every "may this user start this?"
decision is made here and unit-tested without a hub.
"""

from .environments import Environment, EnvironmentCatalogue
from .errors import ConfigError, FieldError, PolicyRefusal, SpawnOptionError
from .platform import PlatformPolicy, platform_policy
from .request import SpawnRequest, validate_spawn_options
from .roles import RolePolicy, UserAccess, resolve_access

__all__ = [
    "ConfigError",
    "Environment",
    "EnvironmentCatalogue",
    "FieldError",
    "PlatformPolicy",
    "PolicyRefusal",
    "RolePolicy",
    "SpawnOptionError",
    "SpawnRequest",
    "UserAccess",
    "platform_policy",
    "resolve_access",
    "validate_spawn_options",
]
