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
from dataclasses import replace

from sqlalchemy.orm import Session

from ..policy.environments import EnvironmentCatalogue
from ..policy.pools import Charge, TeamPool, Usage, check_pool, usage_by_role
from ..policy.roles import RolePolicy
from .store import QuotaStore

LoadRunning = Callable[[], Awaitable[list[Charge]]]
ServerKey = tuple[str, str]  # (user name, server name; '' for the default server)


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

    def policies(self, db: Session, catalogue: EnvironmentCatalogue | None = None) -> dict[str, RolePolicy]:
        """The stored roles (one read), each with its team pool."""
        known = set(catalogue.slugs) if catalogue is not None else None
        policies = {}
        for record in self.store.roles(db):
            policy = RolePolicy.from_document(record.name, record.spec)
            if known is not None and policy.environments is not None:
                # an environment removed from the catalogue since the edit is simply not offered
                policy = replace(policy, environments=policy.environments & known)
            policies[record.name] = policy
        return policies

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
        pool: TeamPool,
        load_running: LoadRunning,
        admin_contact: str = "your platform administrators",
        load_jobs: LoadRunning | None = None,
    ) -> Charge:
        """Reserve room for `charge` in its role's pool, or raise PoolRefusal. Atomic.

        `load_jobs` reads the notebook jobs running now: Airflow starts them, not this hub, so they
        are read afresh at each admission rather than kept in the table."""
        async with self.lock:
            await self._load(load_running)
            key = (charge.user, charge.server)
            # a server being started is not running: any old charge under its name is stale
            self._charges.pop(key, None)
            await self._check(charge, pool, admin_contact, load_jobs)
            self._charges[key] = charge
            return charge

    async def check(self, charge: Charge, pool: TeamPool, load_running: LoadRunning, admin_contact: str,
                     load_jobs: LoadRunning | None = None) -> None:
        """Raise PoolRefusal when `charge` would not fit now; reserve nothing (a job's own service,
        labelled, is its charge once Airflow starts it)."""
        async with self.lock:
            await self._load(load_running)
            await self._check(charge, pool, admin_contact, load_jobs)

    async def _check(self, charge: Charge, pool: TeamPool, admin_contact: str,
                     load_jobs: LoadRunning | None) -> None:
        if pool.unlimited:
            # nothing to refuse: no Docker call for the running jobs inside the lock every spawn shares
            # (a storm of 30 spawns queued 30 of them one after another)
            return
        charges = [c for c in self._charges.values() if c.role == charge.role]
        if load_jobs is not None:
            charges += [c for c in await load_jobs() if c.role == charge.role]
        check_pool(pool, usage_by_role(charges).get(charge.role, Usage()), charge.cpu, charge.mem, admin_contact)

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
