"""Retention: old book snapshots' position rows are pruned; everything that was decided is kept.

A 100,000-account book brings millions of lots every day. Only the newest snapshots' lots,
custodian positions and transactions are needed (runs read the latest book; a stale run is
refused), so the snapshots older than the newest ``keep`` lose those rows. Snapshot records,
accounts, securities, models, runs, proposals, trades, batches, cash requests and the audit
log are all kept, so every past decision still reads in full. The local snapshot cache's
copies of the pruned snapshots are deleted with them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select

from engine.core.identity import acting_user
from engine.core.tasks import RefusedError
from storage import models as m
from storage import repo, snapshot_cache

PRUNED_TABLES = (m.Lot.__table__, m.CustodianPosition.__table__, m.Transaction.__table__)


@dataclass
class PruneResult:
    kept: list[int] = field(default_factory=list)       # snapshot ids whose rows are kept
    pruned: list[int] = field(default_factory=list)     # snapshot ids that lost rows now
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def describe(self) -> str:
        if not self.pruned:
            return f"nothing to prune (keeping the newest {len(self.kept)} snapshot(s))"
        parts = ", ".join(f"{n:,} {t}" for t, n in self.rows.items() if n)
        return f"pruned snapshot(s) {', '.join(map(str, self.pruned))}: {parts}"


def prune_snapshots(engine: Engine, keep: int, *, user: str | None = None, role: str = "admin") -> PruneResult:
    """Delete lots, custodian positions and transactions of all but the newest ``keep`` snapshots.

    One transaction per snapshot, audited as ``PRUNE_SNAPSHOT`` when it lost rows. An admin's
    action, or (``role="operator"``) part of an import under the policy's retention setting.
    """
    if keep < 1:
        raise RefusedError(f"retention: keep must be at least 1 snapshot, not {keep}")
    user = acting_user(engine, user, role)
    out = PruneResult()
    snaps = m.BookSnapshot.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(snaps.c.id, snaps.c.checksum).order_by(snaps.c.id.desc())).all()
    ids = [r[0] for r in rows]
    out.kept = ids[:keep]
    for snap in sorted(ids[keep:]):
        # one transaction per snapshot: other desks' writes wait for one snapshot's delete at most
        with engine.begin() as conn:
            counts = {}
            for t in PRUNED_TABLES:
                n = conn.execute(delete(t).where(t.c.snapshot_id == snap)).rowcount or 0
                if n:
                    counts[t.name] = n
                    out.rows[t.name] = out.rows.get(t.name, 0) + n
            if counts:
                out.pruned.append(snap)
                repo.audit(conn, user, "PRUNE_SNAPSHOT", detail=f"snapshot {snap}: " + ", ".join(
                    f"{n:,} {t}" for t, n in counts.items()), before=counts, after={"keep": keep})
    # the local snapshot cache keeps a copy of the kept books only (storage.snapshot_cache)
    snapshot_cache.drop(engine.url, {r[1] for r in rows[:keep]})
    return out


def retention_keep(engine: Engine) -> int:
    """The policy's number of newest snapshots kept whole."""
    from engine.core.policy_store import current_policy

    return current_policy(engine).retention.keep_snapshots
