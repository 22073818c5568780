"""Which run the desk acts on: the newest finished run of the book. Review, the compliance
re-check at approval and export, and manual trades all start from it."""
from __future__ import annotations

from sqlalchemy import select

from engine.core.tasks import RefusedError
from storage import models as m


def latest_run(conn) -> tuple[int, int]:
    """(run_id, snapshot_id) of the newest finished run; refuses if none."""
    r = m.Run.__table__
    row = conn.execute(select(r.c.id, r.c.snapshot_id).where(r.c.status == "done")
                       .order_by(r.c.id.desc()).limit(1)).first()
    if row is None:
        raise RefusedError("no run yet: run the workflow first")
    return row[0], row[1]
