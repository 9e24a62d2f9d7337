"""REST API: /hub/api/mlops/quotas

GET    /api/mlops/quotas                 every role: document, version, usage vs pool
GET    /api/mlops/quotas/audit[?role=R&limit=N]
GET    /api/mlops/quotas/ROLE            one role (ETag: "VERSION")
POST   /api/mlops/quotas/ROLE            create (409 if it exists)
PUT    /api/mlops/quotas/ROLE            replace; needs the version read (body "version" or If-Match)
DELETE /api/mlops/quotas/ROLE            needs the version too
?dry_run=1 on POST/PUT validates and lists the running servers the new document would not allow,
without saving.
Reading needs admin, custom:mlops-quotas:write or custom:mlops-quotas:read; writing needs admin
or custom:mlops-quotas:write. Anyone else gets 403.
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from ..policy.dry_run import servers_exceeding
from ..policy.errors import ConfigError
from ..policy.pools import Usage, headroom
from ..policy.roles import DEFAULT_ROLE, RolePolicy, check_role_name, display_document
from ..quotas.service import QuotaService, quota_service
from ..quotas.store import QuotaError, RoleRecord, StaleVersion
from .json_body import finish_json, json_object_body
from .quota_context import HubQuotaContext, actor_name, can_edit, can_read

MAX_BODY = 64 * 1024


def usage_dict(usage: Usage) -> dict:
    return {"servers": usage.servers, "cpu": usage.cpu, "mem": usage.mem}


class QuotaOps:
    """What the API and the admin page share: context, store access, overview, dry run."""

    @property
    def quota_ctx(self) -> HubQuotaContext:
        return HubQuotaContext.from_settings(self.settings)

    @property
    def quotas(self) -> QuotaService:
        return quota_service()

    def ready_store(self, ctx: HubQuotaContext) -> None:
        self.quotas.prepare(self.db, ctx.role_documents)

    async def overview(self, ctx: HubQuotaContext) -> list[dict]:
        self.ready_store(ctx)
        await self.load_usage(ctx)
        usage = self.quotas.usage()
        return [self.role_view(r, usage.get(r.name, Usage())) for r in self.quotas.store.roles(self.db)]

    async def load_usage(self, ctx: HubQuotaContext) -> None:
        try:
            await self.quotas.ensure_loaded(ctx.load_running)
        except Exception as e:
            raise web.HTTPError(503, f"cannot read the running servers from Docker: {e}") from None

    def role_view(self, record: RoleRecord, usage: Usage) -> dict:
        room = headroom(RolePolicy.from_document(record.name, record.spec).pool, usage)
        return {**record.as_dict(), "display": display_document(record.spec), "usage": usage_dict(usage),
                "headroom": {"servers": room.servers, "cpu": room.cpu, "mem": room.mem}}

    def check_role(self, role: str) -> str:
        check_role_name(role)
        stored = {r.name for r in self.quotas.store.roles(self.db)}
        known_group = self.db.query(orm.Group).filter_by(name=role).first() is not None
        if role != DEFAULT_ROLE and role not in stored and not known_group:
            raise ConfigError(
                "role", f"no JupyterHub group named {role!r}: roles are groups; create the group"
                        " (POST /hub/api/groups/NAME) or let the identity provider create it at login")
        return role

    def validate_doc(self, ctx: HubQuotaContext, role: str, raw) -> RolePolicy:
        """The one role parser (policy.roles), checked against the environment catalogue."""
        self.check_role(role)
        return RolePolicy.from_document(role, raw, ctx.catalogue)

    async def dry_run(self, ctx: HubQuotaContext, policy: RolePolicy) -> dict:
        await self.load_usage(ctx)
        excess, pool_over = servers_exceeding(self.quotas.charges(), policy)
        spec, role = policy.document(), policy.name
        return {"dry_run": True, "role": role, "spec": spec, "display": display_document(spec),
                "would_exceed": [e.as_dict() for e in excess], "pool_over": pool_over,
                "usage": usage_dict(self.quotas.usage().get(role, Usage()))}


class QuotaAPIHandler(QuotaOps, APIHandler):
    def _require(self, write: bool) -> None:
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if not (can_edit(self) if write else can_read(self)):
            need = "custom:mlops-quotas:write" if write else "custom:mlops-quotas:read"
            raise web.HTTPError(403, f"Editing quotas needs the admin role or the scope {need}."
                                if write else f"Reading quotas needs the admin role or the scope {need}.")

    def write_json(self, data, status: int = 200) -> None:
        finish_json(self, data, status)

    def _body(self) -> dict:
        return json_object_body(self.request.body, MAX_BODY, "a JSON object with the role's limits")

    def _expected_version(self, body: dict | None) -> int:
        header = self.request.headers.get("If-Match")
        raw = body.pop("version", None) if body is not None else None
        if raw is None and header:
            raw = header.strip().removeprefix("W/").strip('"')
        if raw is None:
            raise web.HTTPError(400, "version: required (the version you read, as \"version\" or If-Match),"
                                     " so a stale edit cannot overwrite someone else's")
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        # JSON allows Infinity and 1e400: only a whole number is a version
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise web.HTTPError(400, f"version: expected a whole number, got {str(raw)[:40]!r}")
        return raw

    def _dry(self) -> bool:
        return self.get_argument("dry_run", "0").lower() in ("1", "true", "yes")

    def _fail(self, e: Exception):
        if isinstance(e, ConfigError):
            raise web.HTTPError(400, str(e)) from None
        if isinstance(e, QuotaError):
            raise web.HTTPError(e.status, str(e)) from None
        raise e

    def _set_etag(self, version: int) -> None:
        self.set_header("ETag", f'"{version}"')


class QuotaListHandler(QuotaAPIHandler):
    async def get(self):
        self._require(write=False)
        ctx = self.quota_ctx
        roles = await self.overview(ctx)
        self.write_json({"roles": roles, "environments": ctx.catalogue.slugs, "can_edit": can_edit(self)})


class QuotaAuditHandler(QuotaAPIHandler):
    def get(self):
        self._require(write=False)
        self.ready_store(self.quota_ctx)
        role = self.get_argument("role", None)
        try:
            limit = min(max(int(self.get_argument("limit", "100")), 1), 1000)
        except ValueError:
            raise web.HTTPError(400, "limit: expected a whole number") from None
        entries = self.quotas.store.audit(self.db, role, limit)
        self.write_json({"entries": [e.as_dict() for e in entries]})


class QuotaRoleHandler(QuotaAPIHandler):
    async def get(self, role: str):
        self._require(write=False)
        ctx = self.quota_ctx
        self.ready_store(ctx)
        try:
            record = self.quotas.store.get(self.db, role)
        except QuotaError as e:
            self._fail(e)
        await self.load_usage(ctx)
        self._set_etag(record.version)
        self.write_json(self.role_view(record, self.quotas.usage().get(role, Usage())))

    async def post(self, role: str):
        self._require(write=True)
        ctx = self.quota_ctx
        self.ready_store(ctx)
        body = self._body()
        body.pop("version", None)
        try:
            policy = self.validate_doc(ctx, role, body)
            if self._dry():
                return self.write_json(await self.dry_run(ctx, policy))
            record = self.quotas.store.create(self.db, role, policy.document(), actor_name(self))
        except (ConfigError, QuotaError) as e:
            self._fail(e)
        self.log.info("mlops quotas: %s created role %s v%d", actor_name(self), role, record.version)
        self._set_etag(record.version)
        self.write_json(self.role_view(record, self.quotas.usage().get(role, Usage())), status=201)

    async def put(self, role: str):
        self._require(write=True)
        ctx = self.quota_ctx
        self.ready_store(ctx)
        body = self._body()
        dry = self._dry()
        expected = None if dry and "version" not in body and not self.request.headers.get("If-Match") \
            else self._expected_version(body)
        try:
            policy = self.validate_doc(ctx, role, body)
            current = self.quotas.store.get(self.db, role)
            if expected is not None and expected != current.version:
                raise StaleVersion(role, expected, current.version)
            if dry:
                return self.write_json(await self.dry_run(ctx, policy))
            record = self.quotas.store.update(self.db, role, policy.document(), expected, actor_name(self))
        except (ConfigError, QuotaError) as e:
            self._fail(e)
        self.log.info("mlops quotas: %s updated role %s to v%d", actor_name(self), role, record.version)
        self._set_etag(record.version)
        self.write_json(self.role_view(record, self.quotas.usage().get(role, Usage())))

    def delete(self, role: str):
        self._require(write=True)
        self.ready_store(self.quota_ctx)
        expected = self._expected_version({"version": self.get_argument("version")}
                                          if self.get_argument("version", None) else {})
        try:
            self.quotas.store.delete(self.db, role, expected, actor_name(self))
        except QuotaError as e:
            self._fail(e)
        self.log.info("mlops quotas: %s deleted role %s", actor_name(self), role)
        self.set_status(204)
        self.finish()


ROLE_PATTERN = r"([^/]+)"

handlers = [
    (r"/api/mlops/quotas/?", QuotaListHandler),
    (r"/api/mlops/quotas/audit/?", QuotaAuditHandler),
    (rf"/api/mlops/quotas/{ROLE_PATTERN}/?", QuotaRoleHandler),
]
