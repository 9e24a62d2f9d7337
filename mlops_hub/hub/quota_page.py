"""The admin page /hub/mlops/quotas: each role's limits, live usage vs pool, edit form, history.

Plain HTML forms (no JavaScript needed); edits go through the same validation, version check
and audit as the REST API.
"""

from __future__ import annotations

from jupyterhub.handlers.base import BaseHandler
from tornado import web

from ..policy.errors import ConfigError
from ..policy.roles import DOCUMENT_KEYS, describe_change
from ..policy.units import format_cpu, format_memory
from ..quotas.store import QuotaError, StaleVersion
from .quota_api import QuotaOps
from .quota_context import actor_name, can_edit, can_read

_CPU = ("max_cpu", "default_cpu", "pool_cpu")
_COUNTS = ("max_servers", "pool_servers")


def doc_from_form(form: dict[str, str]) -> dict:
    """Form strings to a quota document; bad values are left for validation to name."""
    doc: dict = {}
    for key in DOCUMENT_KEYS:
        value = (form.get(key) or "").strip()
        if value == "":
            continue
        if key in _CPU or key in _COUNTS:
            try:
                number = float(value)
                doc[key] = int(number) if key in _COUNTS and number.is_integer() else number
            except ValueError:
                doc[key] = value
        elif key == "environments":
            doc[key] = "*" if value == "*" else [s.strip() for s in value.split(",") if s.strip()]
        else:
            doc[key] = value
    return doc


class QuotaPageHandler(QuotaOps, BaseHandler):
    def _check(self) -> None:
        if not can_read(self):
            raise web.HTTPError(403, "The quota page needs the admin role or the scope custom:mlops-quotas:write.")

    @web.authenticated
    async def get(self):
        self._check()
        await self._render()

    async def _render(self, message: str = "", error: str = "", form_role: str = "", form: dict | None = None,
                      dry: dict | None = None, status: int = 200):
        ctx = self.quota_ctx
        roles = await self.overview(ctx)
        history = [{**e.as_dict(), "changes": describe_change(e.before, e.after)}
                   for e in self.quotas.store.audit(self.db, None, 50)]
        names = {r["role"] for r in roles}
        self.set_status(status)
        html = await self.render_template(
            "mlops_quotas.html", roles=roles, history=history, environments=ctx.catalogue.slugs,
            can_edit=can_edit(self), message=message, error=error, form_role=form_role, form=form or {},
            dry=dry, create_form=form if form and form_role not in names else {},
            fmt_cpu=format_cpu, fmt_mem=format_memory,
        )
        self.finish(html)

    @web.authenticated
    async def post(self):
        self._check()
        if not can_edit(self):
            raise web.HTTPError(403, "Editing quotas needs the admin role or the scope custom:mlops-quotas:write.")
        ctx = self.quota_ctx
        self.ready_store(ctx)
        form = {k: self.get_body_argument(k, "") for k in (*DOCUMENT_KEYS, "role", "version", "action")}
        role, action = form["role"].strip(), form["action"] or "save"
        actor = actor_name(self)
        try:
            if action == "delete":
                if not form["version"].isdigit():
                    raise ConfigError("version", "missing; reload the page")
                self.quotas.store.delete(self.db, role, int(form["version"]), actor)
                return await self._render(message=f"Deleted the quota of role {role}.")
            policy = self.validate_doc(ctx, role, doc_from_form(form))
            spec = policy.document()
            if action == "dry_run":
                return await self._render(form_role=role, form=form, dry=await self.dry_run(ctx, policy))
            if action == "create":
                record = self.quotas.store.create(self.db, role, spec, actor)
            else:
                try:
                    expected = int(form["version"])
                except ValueError:
                    raise ConfigError("version", "missing; reload the page") from None
                current = self.quotas.store.get(self.db, role)
                if current.version != expected:
                    raise StaleVersion(role, expected, current.version)
                record = self.quotas.store.update(self.db, role, spec, expected, actor)
        except ConfigError as e:
            return await self._render(error=str(e), form_role=role, form=form, status=400)
        except QuotaError as e:
            return await self._render(error=str(e), form_role=role, form=form, status=e.status)
        await self._render(message=f"Saved role {role} (version {record.version}).")


handlers = [(r"/mlops/quotas/?", QuotaPageHandler)]
