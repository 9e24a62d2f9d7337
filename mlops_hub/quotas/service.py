"""Admission to team pools in the one hub process: check + reserve under one asyncio lock.

JupyterHub runs in a single process and event loop, so an asyncio.Lock around "read usage,
check the pool, record the charge" makes concurrent spawns queue for the pool: it can never be
overcommitted. Charges are released when a spawn fails or a server stops, and rebuilt from
the running Swarm services (labels `mlops-hub.role/cpu/mem`) the first time they are needed
after the hub starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.orm import Session

from ..policy.pools import Charge, TeamPool, Usage, check_pool, usage_by_role
from ..policy.quota_spec import role_policy_from_spec, spec_from_config
from ..policy.roles import RolePolicy
from .store import QuotaStore

LoadRunning = Callable[[], Awaitable[list[Charge]]]
ServerKey = tuple[str, str]  # (user name, server name; '' for the default server)


def seeds_from_config(role_policies: Mapping[str, Mapping]) -> dict[str, dict]:
    return {name: spec_from_config(name, raw) for name, raw in (role_policies or {}).items()}


class QuotaService:
    def __init__(self, store: QuotaStore | None = None) -> None:
        self.store = store or QuotaStore()
        self._lock: asyncio.Lock | None = None
        self._charges: dict[ServerKey, Charge] = {}
        self._loaded = False
        self._prepared: set[int] = set()

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # ---- the store, seeded from config once per database --------------------------------
    def prepare(self, db: Session, seeds: Mapping[str, Mapping]) -> None:
        bind = id(db.get_bind())
        if bind not in self._prepared:
            self.store.ensure(db)
            self.store.seed(db, seeds)
            self._prepared.add(bind)

    def specs(self, db: Session) -> dict[str, dict]:
        return {r.name: r.spec for r in self.store.roles(db)}

    def policies(self, db: Session, known_environments: set[str] | None = None) -> dict[str, RolePolicy]:
        policies = {}
        for name, spec in self.specs(db).items():
            if known_environments is not None and isinstance(spec.get("environments"), list):
                # an environment removed from the catalogue since the edit is simply not offered
                spec = {**spec, "environments": [e for e in spec["environments"] if e in known_environments]}
            policies[name] = role_policy_from_spec(name, spec)
        return policies

    @staticmethod
    def policies_from_specs(specs: Mapping[str, Mapping]) -> dict[str, RolePolicy]:
        return {name: role_policy_from_spec(name, spec) for name, spec in specs.items()}

    @staticmethod
    def pool_of(name: str, spec: Mapping | None) -> TeamPool:
        spec = spec or {}
        return TeamPool(name, spec.get("pool_cpu"), spec.get("pool_mem"), spec.get("pool_servers"))

    # ---- usage --------------------------------------------------------------------------
    async def ensure_loaded(self, load_running: LoadRunning) -> None:
        async with self.lock:
            await self._load(load_running)

    async def _load(self, load_running: LoadRunning) -> None:
        if self._loaded:
            return
        for charge in await load_running():
            self._charges.setdefault((charge.user, charge.server), charge)
        self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def charges(self) -> list[Charge]:
        return list(self._charges.values())

    def usage(self) -> dict[str, Usage]:
        return usage_by_role(self._charges.values())

    async def admit(
        self,
        charge: Charge,
        pool_for: Callable[[str], TeamPool],
        load_running: LoadRunning,
        admin_contact: str = "your platform administrators",
    ) -> Charge:
        """Reserve room for `charge` in its role's pool, or raise PoolRefusal. Atomic."""
        async with self.lock:
            await self._load(load_running)
            key = (charge.user, charge.server)
            # a server being started is not running: any old charge under its name is stale
            self._charges.pop(key, None)
            pool = pool_for(charge.role)
            check_pool(pool, self.usage().get(charge.role, Usage()), charge.cpu, charge.mem, admin_contact)
            self._charges[key] = charge
            return charge

    def release(self, user: str, server: str) -> Charge | None:
        return self._charges.pop((user, server), None)

    def reset(self) -> None:
        """Forget usage (tests; a hub restart does the same)."""
        self._charges.clear()
        self._loaded = False
        self._prepared.clear()


_service: QuotaService | None = None


def quota_service() -> QuotaService:
    """The hub process's one service (one lock, one usage table)."""
    global _service
    if _service is None:
        _service = QuotaService()
    return _service
