"""What MLOpsSwarmSpawner asks of the quota store when `quota_store` is on.

Kept out of spawner.py so the spawner stays readable: policies from the store, pool
admission before any Docker object exists, release on failure/stop, headroom on the form.
"""

from __future__ import annotations

import html

from tornado import web

from ..policy.errors import PolicyRefusal
from ..policy.pools import Charge, Usage, headroom
from ..policy.roles import RolePolicy
from .running import load_running
from .service import quota_service, seeds_from_config


def _db(spawner):
    return spawner.user.db


def _key(spawner) -> tuple[str, str]:
    return spawner.user.name, spawner.name or ""


def store_policies(spawner) -> dict[str, RolePolicy]:
    """Role policies as stored (seeded from `role_policies`; admin edits win)."""
    service = quota_service()
    db = _db(spawner)
    service.prepare(db, seeds_from_config(spawner.role_policies))
    return service.policies(db, set(spawner._catalogue().slugs))


def _loader(spawner):
    return lambda: load_running(spawner.docker, spawner.prefix)


async def admit(spawner, request) -> Charge:
    """Reserve the request in its role's pool; HTTP 403 naming the limit when it does not fit."""
    service = quota_service()
    db = _db(spawner)
    specs = service.specs(db)
    user, server = _key(spawner)
    charge = Charge(user, server, request.role, request.cpu_limit, request.mem_limit, request.environment.slug)
    try:
        return await service.admit(charge, lambda role: service.pool_of(role, specs.get(role)),
                                   _loader(spawner), spawner.admin_contact)
    except PolicyRefusal as e:
        spawner.log.info("%s: refused by team pool: %s", spawner._log_name, e)
        raise web.HTTPError(403, str(e), reason="Forbidden") from None


def release(spawner) -> None:
    quota_service().release(*_key(spawner))


def form_with_headroom(render):
    """Wrap the options form renderer: append the user's headroom in each role's team pool."""

    async def render_with_headroom(spawner) -> str:
        form = render(spawner)
        try:
            access = spawner.user_access()
        except PolicyRefusal:
            return form
        service = quota_service()
        try:
            await service.ensure_loaded(_loader(spawner))
        except Exception as e:  # the form still works; admission reports the problem at spawn
            spawner.log.warning("team pool usage unavailable for the spawn form: %s", e)
            return form
        specs = service.specs(_db(spawner))
        usage = service.usage()
        lines = []
        for role in access.roles:
            pool = service.pool_of(role, specs.get(role))
            if pool.unlimited:
                continue
            room = headroom(pool, usage.get(role, Usage()))
            lines.append(f"<li>Team <strong>{html.escape(role)}</strong>: {html.escape(room.describe())}</li>")
        if not lines:
            return form
        return form + ('<div class="mlops-headroom"><p>Room left in your team pools:</p><ul>'
                       + "".join(lines) + "</ul></div>")

    return render_with_headroom
