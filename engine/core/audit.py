"""Reading the audit log with filters (the console's Audit panel and `main.py audit`)."""
from __future__ import annotations

from datetime import date, datetime, time

import pandas as pd
from sqlalchemy import Engine, select

from storage import models as m
from storage.bulk import read_frame


def audit_entries(engine: Engine, *, user: str | None = None, action: str | None = None,
                  account_id: str | None = None, since: date | None = None, until: date | None = None,
                  limit: int | None = None) -> pd.DataFrame:
    """Audit entries, newest first, filtered by user, action, account and date range (inclusive)."""
    t = m.AuditEntry.__table__
    stmt = select(t).order_by(t.c.at.desc(), t.c.id.desc())
    if user:
        stmt = stmt.where(t.c.username == user)
    if action:
        stmt = stmt.where(t.c.action == action)
    if account_id:
        stmt = stmt.where(t.c.account_id == account_id)
    if since:
        stmt = stmt.where(t.c.at >= datetime.combine(since, time.min))
    if until:
        stmt = stmt.where(t.c.at <= datetime.combine(until, time.max))
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return read_frame(conn, stmt)


def audit_facets(engine: Engine) -> dict[str, list[str]]:
    """The users and actions present in the log (for filter pickers)."""
    t = m.AuditEntry.__table__
    with engine.connect() as conn:
        users = [r[0] for r in conn.execute(select(t.c.username).distinct().order_by(t.c.username))]
        actions = [r[0] for r in conn.execute(select(t.c.action).distinct().order_by(t.c.action))]
    return {"users": users, "actions": actions}
