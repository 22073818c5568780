"""The desk's bulk actions that have no single-account engine function to call in a loop.

:func:`hold_accounts` puts a hold on many accounts at once (the Blotter's "Hold accounts…"):
the same override :func:`engine.decide.overrides.add_hold` records, for every account, in one
transaction — all held, or none (an account not in the book refuses the whole action).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from engine.core.identity import acting_user
from engine.decide.overrides import _require_reason
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo
from storage.bulk import in_chunks


def hold_accounts(engine, account_ids: list[str], until: date | None, reason: str, *,
                  user: str | None = None) -> list[int]:
    """Hold every account of ``account_ids`` until ``until`` (None: until ended), in one
    transaction, each hold audited (``HOLD_ADD``) with the reason; returns the override ids."""
    user = acting_user(engine, user, "operator")
    reason = _require_reason(reason)
    ids = list(dict.fromkeys(str(a) for a in account_ids))
    if not ids:
        raise RefusedError("no accounts given")
    with engine.begin() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            raise RefusedError("no book imported yet: import a book before holding accounts")
        if until is not None and until < snap.as_of:
            raise RefusedError(f"--until {until} is before the book date {snap.as_of}")
        A = m.Account.__table__
        known = {r[0] for part in in_chunks(ids) for r in conn.execute(
            select(A.c.account_id).where(A.c.snapshot_id == snap.id, A.c.account_id.in_(part)))}
        missing = [a for a in ids if a not in known]
        if missing:
            raise RefusedError(f"not in the book as of {snap.as_of}: {', '.join(missing[:10])}"
                               f"{' …' if len(missing) > 10 else ''}; nothing held")
        now = repo.now()
        out = []
        for a in ids:
            oid = conn.execute(m.Override.__table__.insert().values(
                kind="HOLD", account_id=a, reason=reason, until=until, created_at=now, created_by=user,
                version=1).returning(m.Override.id)).scalar_one()
            out.append(int(oid))
        from engine.core.notes import record_note

        for a, oid in zip(ids, out):
            record_note(conn, user, [a], "hold", reason, None, ref=f"override {oid}", at=now)
        repo.audit_many(conn, [dict(user=user, action="HOLD_ADD", account_id=a, detail=reason,
                                    after={"override_id": oid, "until": until, "reason": reason}, at=now)
                               for a, oid in zip(ids, out)])
    return out
