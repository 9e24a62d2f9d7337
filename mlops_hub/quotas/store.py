"""The quota store: one versioned row per role, and an audit log of every change.

Tables live in the hub's own database (SQLite or PostgreSQL) under names starting with
`mlops_quota_`; they are created on first use and migrated by `ensure_schema`.
Config (`role_policies`) seeds the store: a row still marked `origin=config` follows the
config; once an admin edits (or deletes) a role, the store wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    MetaData,
    String,
    Text,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

SCHEMA_VERSION = 1
ORIGIN_CONFIG = "config"
ORIGIN_ADMIN = "admin"


class Base(DeclarativeBase):
    metadata = MetaData()


class QuotaRole(Base):
    __tablename__ = "mlops_quota_roles"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    spec: Mapped[str] = mapped_column(Text)  # normalized JSON document (policy.roles.RolePolicy.document)
    version: Mapped[int] = mapped_column(Integer, default=1)
    origin: Mapped[str] = mapped_column(String(16), default=ORIGIN_CONFIG)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(255), default="")


class QuotaAudit(Base):
    __tablename__ = "mlops_quota_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(16))  # seed, create, update, delete
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)


class QuotaSchema(Base):
    __tablename__ = "mlops_quota_schema"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


# version -> step that brings a database at version-1 to version (run in order, once)
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def ensure_schema(conn: Connection) -> int:
    """Create missing tables and run pending migrations; returns the schema version."""
    Base.metadata.create_all(conn)
    row = conn.execute(select(QuotaSchema.version).where(QuotaSchema.id == 1)).scalar()
    if row is None:
        conn.execute(QuotaSchema.__table__.insert().values(id=1, version=SCHEMA_VERSION))
        return SCHEMA_VERSION
    for version in range(row + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](conn)
        conn.execute(update(QuotaSchema).where(QuotaSchema.id == 1).values(version=version))
    return max(row, SCHEMA_VERSION)


def tables_exist(conn: Connection) -> bool:
    return inspect(conn).has_table(QuotaRole.__tablename__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _dump(spec: Mapping | None) -> str | None:
    return None if spec is None else json.dumps(spec, sort_keys=True)


@dataclass(frozen=True)
class RoleRecord:
    name: str
    spec: dict
    version: int
    origin: str
    updated_at: datetime
    updated_by: str

    def as_dict(self) -> dict:
        return {"role": self.name, "spec": self.spec, "version": self.version, "origin": self.origin,
                "updated_at": _iso(self.updated_at), "updated_by": self.updated_by}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    role: str
    action: str
    actor: str
    at: datetime
    version: int
    before: dict | None
    after: dict | None

    def as_dict(self) -> dict:
        return {"id": self.id, "role": self.role, "action": self.action, "actor": self.actor,
                "at": _iso(self.at), "version": self.version, "before": self.before, "after": self.after}


def _iso(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive datetimes
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _record(row: QuotaRole) -> RoleRecord:
    return RoleRecord(row.name, json.loads(row.spec), row.version, row.origin, row.updated_at, row.updated_by)


class QuotaError(Exception):
    status = 400


class RoleNotFound(QuotaError):
    status = 404


class RoleExists(QuotaError):
    status = 409


class StaleVersion(QuotaError):
    status = 409

    def __init__(self, role: str, expected: int, current: int) -> None:
        super().__init__(
            f"role {role!r} is at version {current}, not {expected}: someone changed it since you read it."
            " Reload, check their change, and apply yours again."
        )
        self.current = current


class QuotaStore:
    """Versioned role documents in a SQLAlchemy session (the hub's own, or any other)."""

    def ensure(self, db: Session) -> None:
        ensure_schema(db.connection())
        db.commit()

    # ---- reads ------------------------------------------------------------------------
    def roles(self, db: Session) -> list[RoleRecord]:
        rows = db.execute(select(QuotaRole).where(QuotaRole.deleted.is_(False)).order_by(QuotaRole.name))
        return [_record(r) for r in rows.scalars()]

    def get(self, db: Session, name: str) -> RoleRecord:
        row = db.get(QuotaRole, name)
        if row is None or row.deleted:
            raise RoleNotFound(f"no quota for role {name!r}")
        return _record(row)

    def audit(self, db: Session, role: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(QuotaAudit).order_by(QuotaAudit.id.desc()).limit(limit)
        if role is not None:
            query = query.where(QuotaAudit.role == role)
        return [
            AuditEntry(a.id, a.role, a.action, a.actor, a.at, a.version,
                       json.loads(a.before) if a.before else None, json.loads(a.after) if a.after else None)
            for a in db.execute(query).scalars()
        ]

    # ---- writes -----------------------------------------------------------------------
    def _audit(self, db: Session, role: str, action: str, actor: str, version: int, before, after) -> None:
        db.add(QuotaAudit(role=role, action=action, actor=actor, at=_now(), version=version,
                          before=_dump(before), after=_dump(after)))

    def seed(self, db: Session, specs: Mapping[str, Mapping], actor: str = "jupyterhub_config.py") -> None:
        """Insert config roles the store lacks; follow config for rows no admin has touched."""
        for name, spec in specs.items():
            row = db.get(QuotaRole, name)
            if row is None:
                db.add(QuotaRole(name=name, spec=_dump(spec), version=1, origin=ORIGIN_CONFIG,
                                 deleted=False, updated_at=_now(), updated_by=actor))
                self._audit(db, name, "seed", actor, 1, None, spec)
            elif row.origin == ORIGIN_CONFIG and not row.deleted and json.loads(row.spec) != dict(spec):
                before = json.loads(row.spec)
                row.spec, row.version = _dump(spec), row.version + 1
                row.updated_at, row.updated_by = _now(), actor
                self._audit(db, name, "seed", actor, row.version, before, spec)
        db.commit()

    def create(self, db: Session, name: str, spec: Mapping, actor: str) -> RoleRecord:
        row = db.get(QuotaRole, name)
        if row is not None and not row.deleted:
            raise RoleExists(f"role {name!r} already has a quota (version {row.version}); update it instead")
        if row is None:
            row = QuotaRole(name=name, spec=_dump(spec), version=1, origin=ORIGIN_ADMIN, deleted=False,
                            updated_at=_now(), updated_by=actor)
            db.add(row)
        else:  # re-created after a delete: versions keep counting
            row.spec, row.version, row.origin, row.deleted = _dump(spec), row.version + 1, ORIGIN_ADMIN, False
            row.updated_at, row.updated_by = _now(), actor
        self._audit(db, name, "create", actor, row.version, None, spec)
        db.commit()
        return _record(row)

    def _bump(self, db: Session, name: str, expected: int | None, values: dict) -> int:
        """Compare-and-set on the version: one UPDATE, safe against any other writer."""
        row = db.get(QuotaRole, name)
        if row is None or row.deleted:
            raise RoleNotFound(f"no quota for role {name!r}")
        version = row.version if expected is None else expected
        result = db.execute(
            update(QuotaRole)
            .where(QuotaRole.name == name, QuotaRole.version == version, QuotaRole.deleted.is_(False))
            .values(version=QuotaRole.version + 1, updated_at=_now(), **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # nothing changed: no rollback of the hub's session needed
            current = db.execute(select(QuotaRole.version).where(QuotaRole.name == name)).scalar() or 0
            raise StaleVersion(name, version, current)
        db.expire(row)
        return version + 1

    def update(self, db: Session, name: str, spec: Mapping, expected: int | None, actor: str) -> RoleRecord:
        before = self.get(db, name).spec
        version = self._bump(db, name, expected, {"spec": _dump(spec), "origin": ORIGIN_ADMIN, "updated_by": actor})
        self._audit(db, name, "update", actor, version, before, spec)
        db.commit()
        return self.get(db, name)

    def delete(self, db: Session, name: str, expected: int | None, actor: str) -> None:
        before = self.get(db, name).spec
        version = self._bump(db, name, expected, {"deleted": True, "origin": ORIGIN_ADMIN, "updated_by": actor})
        self._audit(db, name, "delete", actor, version, before, None)
        db.commit()

    def count_audit(self, db: Session) -> int:
        return db.execute(select(func.count(QuotaAudit.id))).scalar() or 0
