"""Which provider account (issuer, `sub`) each hub username belongs to, in the hub's database.

The first login under a username binds it; the row outlives hub restarts, and a later login
under the same username from another subject is refused. The table is `mlops_oidc_subjects`,
created on first use like the quota store's tables.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class Subject(Base):
    __tablename__ = "mlops_oidc_subjects"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(1024))
    sub: Mapped[str] = mapped_column(String(255))
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def bound_subject(db: Session, username: str) -> tuple[str, str] | None:
    row = db.execute(select(Subject.issuer, Subject.sub).where(Subject.username == username)).first()
    return None if row is None else (row.issuer, row.sub)


def bind(db: Session, username: str, issuer: str, sub: str) -> tuple[str, str]:
    """Bind `username` unless already bound; returns the binding now in force (maybe another's)."""
    Base.metadata.create_all(db.connection())
    current = bound_subject(db, username)
    if current is not None:
        return current
    db.add(Subject(username=username, issuer=issuer, sub=sub, bound_at=datetime.now(timezone.utc)))
    try:
        db.commit()
    except IntegrityError:
        # two first logins at once: the other one's row won
        db.rollback()
        return bound_subject(db, username)
    return issuer, sub
