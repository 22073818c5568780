"""Retire a wrong book snapshot, so the desk is never stuck behind it (issue #18).

A book imported with a wrong as_of (confirmed by mistake: 2062-11-20 for 2026-11-20) would make
every real book after it "older" and refused. An admin retires it: it stops being the current
book (storage.repo.snapshot_info skips it), so the previous snapshot is current again and the
next real book imports; the run made on it is no longer exported from (the export only sends the
latest run when it ran on the current book). Its rows stay for the record, and the act is
audited (``RETIRE_SNAPSHOT``, who and why).

Refused: a snapshot that is not the current book (only the newest can lock the desk), one
already retired, one an export batch was made from (its orders left the desk: retiring would not
call them back), and a blank reason.
"""
from __future__ import annotations

from sqlalchemy import Engine, select, update

from engine.core.identity import acting_user
from engine.core.safe_text import printable
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo


def retire_snapshot(engine: Engine, snapshot_id: int, *, reason: str, user: str | None = None) -> str:
    """Retire ``snapshot_id`` (an admin's action); returns what the desk's current book is now."""
    reason = (reason or "").strip()
    if not reason:
        raise RefusedError("retire-snapshot needs a reason (--reason): the audit log records why")
    user = acting_user(engine, user, "admin")
    S, B = m.BookSnapshot.__table__, m.ExportBatch.__table__
    with engine.begin() as conn:
        snap = conn.execute(select(S).where(S.c.id == snapshot_id)).mappings().first()
        if snap is None:
            raise RefusedError(f"no snapshot {snapshot_id}")
        if snap["retired_at"] is not None:
            raise RefusedError(f"snapshot {snapshot_id} was already retired by {snap['retired_by']} on "
                               f"{snap['retired_at']:%Y-%m-%d %H:%M}")
        current = repo.snapshot_info(conn)
        if current is None or current.id != snapshot_id:
            raise RefusedError(f"snapshot {snapshot_id} (as of {snap['as_of']}) is not the current book "
                               f"(snapshot {current.id if current else '-'}); only the current one can be retired")
        batch = conn.execute(select(B.c.id).where(B.c.snapshot_id == snapshot_id).limit(1)).scalar()
        if batch is not None:
            raise RefusedError(f"snapshot {snapshot_id}: orders from it were exported (batch {batch}); retiring it "
                               "would not call them back. Nothing changed")
        conn.execute(update(S).where(S.c.id == snapshot_id).values(
            retired_at=repo.now(), retired_by=user, retired_reason=reason))
        now = repo.snapshot_info(conn)
        repo.audit(conn, user, "RETIRE_SNAPSHOT",
                   detail=f"snapshot {snapshot_id} as of {snap['as_of']} retired: {reason}",
                   before={"current_snapshot": snapshot_id},
                   after={"current_snapshot": None if now is None else now.id})
    where = "no book is current" if now is None else f"the current book is snapshot {now.id} as of {now.as_of}"
    return f"retired snapshot {snapshot_id} (as of {snap['as_of']}): {where}; reason: {printable(reason)}"
