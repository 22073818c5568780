"""Other desks' changes: which audit entries are new since the console last looked (every change
on any workstation, :class:`ChangeWatcher`) and a status line that sums them up
(:func:`describe_changes`). Plain SQL, no Qt; the console polls off the GUI thread."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select

from storage import models as m
from storage.bulk import in_chunks

AUD = m.AuditEntry.__table__


def describe_changes(changes: pd.DataFrame) -> str:
    """'bob: 3 APPROVE, 1 HOLD · carol: 1 EXPORT' for a status line."""
    if not len(changes):
        return ""
    parts = []
    for user, grp in changes.groupby("user", sort=False):
        counts = grp["action"].value_counts(sort=False)
        parts.append(f"{user}: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    return " · ".join(parts)


class ChangeWatcher:
    """Which audit entries are new since the last look — every change on any workstation.

    Ids are not always committed in order (on PostgreSQL an id is drawn at insert, and a
    longer transaction may commit after a later id is visible), so the watcher keeps a floor
    below which every id has been seen and remembers the ids seen above it; a hole in the ids
    that stays open for ``gap_seconds`` is an id whose transaction rolled back. ``poll`` is
    plain blocking SQL: the console calls it off the GUI thread.
    """

    def __init__(self, engine: Engine, *, gap_seconds: float = 600.0, clock=None):
        import time

        self.engine = engine
        self.gap_seconds = gap_seconds
        self.clock = clock or time.monotonic
        self.floor: int | None = None
        self.seen: set[int] = set()
        self.holes: dict[int, float] = {}

    def poll(self) -> pd.DataFrame:
        """Entries (id, at, user, action, account_id, session) not returned before; the first
        call only sets the starting point and returns none."""
        cols = ["id", "at", "user", "action", "account_id", "session"]
        with self.engine.connect() as conn:
            if self.floor is None:
                self.floor = int(conn.execute(select(func.max(AUD.c.id))).scalar() or 0)
                return pd.DataFrame(columns=cols)
            ids = [r[0] for r in conn.execute(select(AUD.c.id).where(AUD.c.id > self.floor))]
            new = sorted(set(ids) - self.seen)
            rows = []
            for part in in_chunks(new):
                rows += conn.execute(select(AUD.c.id, AUD.c.at, AUD.c.username, AUD.c.action, AUD.c.account_id,
                                            AUD.c.session).where(AUD.c.id.in_(part)).order_by(AUD.c.id)).all()
        self.seen.update(new)
        self._advance()
        return pd.DataFrame(rows, columns=cols)

    def _advance(self) -> None:
        now = self.clock()
        top = max(self.seen) if self.seen else self.floor
        while self.floor < top:
            nxt = self.floor + 1
            if nxt in self.seen:
                self.seen.discard(nxt)
            elif now - self.holes.setdefault(nxt, now) < self.gap_seconds:
                break  # maybe a transaction still open: look again next time
            self.holes.pop(nxt, None)
            self.floor = nxt
