"""Pure policy: environments, role limits, and validation of a spawn request.

Nothing here imports docker, tornado or jupyterhub: every "may this user start this?"
decision is made here and unit-tested without a hub.
"""

from .environments import Environment, EnvironmentCatalogue
from .errors import PolicyRefusal, SpawnOptionError
from .request import SpawnRequest, validate_spawn_options
from .roles import RolePolicy, UserAccess, resolve_access

__all__ = [
    "Environment",
    "EnvironmentCatalogue",
    "PolicyRefusal",
    "RolePolicy",
    "SpawnOptionError",
    "SpawnRequest",
    "UserAccess",
    "resolve_access",
    "validate_spawn_options",
]
