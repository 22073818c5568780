"""One-click batch export: every approved, not yet exported trade, exactly once.

Files (CONTRACT.md §3) are written atomically (temp + fsync + rename) into the target folder;
then one database transaction records the batch (files, SHA-256, counts, user, time), locks
each trade to it and marks cash requests met. If anything fails, the files of the batch are
removed and no trade is marked exported.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, or_, select, update

from engine.audit_chain import audit_head
from engine.files import atomic_write_bytes
from engine.identity import acting_user
from engine.tasks import RefusedError, TaskState, ensure_state
from storage import models as m
from storage import repo
from storage.bulk import read_frame

T = m.Trade.__table__
FORMATS = ("csv", "fix", "xlsx")
CSV_COLUMNS = ["batch_id", "account_id", "custodian", "symbol", "side", "quantity", "est_price", "est_value",
               "lot_id", "category", "reason"]
SENDER = "REBALDESK"


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    files: list[tuple[str, str]]  # (path, sha256)
    n_trades: int
    n_accounts: int
    n_lines: int
    skipped_stale: int = 0


def exportable(conn):
    """The condition on trades that an export sends: approved and never exported, of the latest
    run (if it ran on the latest book) or manual. The console's "approved, not yet exported"
    counts use it too, so they count what an export would send."""
    snap = repo.snapshot_info(conn)
    r = m.Run.__table__
    run = conn.execute(select(r.c.id, r.c.snapshot_id).where(r.c.status == "done")
                       .order_by(r.c.id.desc()).limit(1)).first()
    P = m.Proposal.__table__
    # four-eyes: a manual trade awaiting its second approval (PENDING_APPROVAL) is never selected;
    # nor one marked approved by the very user who entered it
    which = and_(T.c.proposal_id.is_(None), or_(
        T.c.four_eyes.is_(False), and_(T.c.approved_by.is_not(None), func.lower(T.c.approved_by) != func.lower(T.c.created_by))))
    if run is not None and snap is not None and run.snapshot_id == snap.id:
        which = or_(which, T.c.proposal_id.in_(select(P.c.id).where(P.c.run_id == run.id)))
    return and_(T.c.status == "APPROVED", T.c.batch_id.is_(None), which)


def _exportable(conn) -> tuple[pd.DataFrame, int]:
    """Approved trades never exported (see :func:`exportable`), and how many approved trades of
    older runs are left out (stale)."""
    trades = read_frame(conn, select(T).where(exportable(conn)))
    proposed = int(trades["proposal_id"].notna().sum()) if len(trades) else 0
    stale = conn.execute(select(func.count()).select_from(T).where(
        T.c.status == "APPROVED", T.c.batch_id.is_(None), T.c.proposal_id.is_not(None))).scalar_one() - proposed
    return trades.sort_values(["account_id", "side", "symbol", "id"], ascending=[True, False, True, True],
                              kind="stable").reset_index(drop=True), int(stale)


def export_preview(engine: Engine) -> dict:
    with engine.connect() as conn:
        trades, stale = _exportable(conn)
        awaiting = conn.execute(select(func.count()).select_from(T).where(
            T.c.status == "PENDING_APPROVAL", T.c.batch_id.is_(None))).scalar_one()
    return {"trades": int(len(trades)), "accounts": int(trades["account_id"].nunique()) if len(trades) else 0,
            "value": float(trades["est_value"].fillna(0).sum()) if len(trades) else 0.0, "stale": stale,
            "awaiting_approval": int(awaiting)}


def order_lines(trades: pd.DataFrame, multi_lot: bool) -> pd.DataFrame:
    """Aggregate trades per account, symbol and side (one line per lot sold when ``multi_lot``)."""
    t = trades.copy()
    t["lots"] = t["lots"].fillna("")
    if multi_lot:
        sells = t[(t["side"] == "SELL") & (t["lots"] != "")].copy()
        sells["lot"] = sells["lots"].str.split(";")
        sells = sells.explode("lot")
        sells["quantity"] = sells["lot"].str.split(":").str[1].astype(int)
        sells["lots"] = sells["lot"]
        sells = sells.drop(columns="lot")
        rest = t[~t.index.isin(sells.index.unique())]
        t = pd.concat([rest, sells])
        key = ["account_id", "symbol", "side", "lots"]
    else:
        key = ["account_id", "symbol", "side"]
    t["lot_ids"] = t["lots"].str.replace(r":\d+", "", regex=True)
    rank = {"MANUAL": 0, "MANDATE": 1, "SCORE": 2}
    t["crank"] = t["category"].map(rank).fillna(3).astype(int)
    t["reason"] = t["reason"].fillna("")
    g = t.groupby(key, sort=False, as_index=False).agg(
        custodian=("custodian", "first"), quantity=("quantity", "sum"), est_price=("est_price", "first"),
        crank=("crank", "min"), lot_id=("lot_ids", "first"), reason=("reason", "first"))
    multi = t[t.duplicated(key, keep=False)]
    if len(multi):  # the few lines made of several trades: join their lots and reasons
        joined = multi.groupby(key, sort=False).agg(
            lot_id=("lot_ids", lambda s: ";".join(x for x in s if x)),
            reason=("reason", lambda s: ";".join(dict.fromkeys(x for x in s if x))))
        g = g.set_index(key)
        g.loc[joined.index, ["lot_id", "reason"]] = joined[["lot_id", "reason"]].to_numpy()
        g = g.reset_index()
    g["category"] = g["crank"].map({v: k for k, v in rank.items()}).fillna("SCORE")
    g["est_price"] = g["est_price"].astype(float)
    g["est_value"] = (g["quantity"] * g["est_price"]).round(2)
    g = g.sort_values(["account_id", "side", "symbol"], ascending=[True, False, True], kind="stable")
    return g.drop(columns=["crank"] + (["lots"] if "lots" in g else [])).reset_index(drop=True)


def _csv_bytes(lines: pd.DataFrame, batch_id: str) -> bytes:
    out = lines.assign(batch_id=batch_id)[CSV_COLUMNS].copy()
    out["est_price"] = out["est_price"].round(4)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def fix_message(fields: list[tuple[int, object]]) -> bytes:
    """One FIX 4.4 message: BeginString, BodyLength (9) and CheckSum (10) around ``fields``
    (header and body tags in order, starting with 35). Checked against simplefix in the tests."""
    body = "".join(f"{tag}={value}\x01" for tag, value in fields).encode()
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01"
    msg = head + body
    return msg + b"10=" + f"{sum(msg) % 256:03d}".encode() + b"\x01"


def _fix_bytes(lines: pd.DataFrame, batch_id: str, when: datetime) -> bytes:
    stamp = when.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    cols = [lines[c].astype(object).tolist() for c in ("account_id", "custodian", "symbol", "side", "quantity")]
    out = []
    for seq, (acc, cust, sym, side, qty) in enumerate(zip(*cols), 1):
        out.append(fix_message([(35, "D"), (49, SENDER), (56, cust), (34, seq), (52, stamp),
                                (11, f"{batch_id}-{seq:06d}"), (1, acc), (21, 1), (55, sym),
                                (54, 1 if side == "BUY" else 2), (60, stamp), (38, int(qty)), (40, 1)]))
    return b"\n".join(out) + (b"\n" if out else b"")


def _xlsx_bytes(lines: pd.DataFrame, batch_id: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for cust, g in lines.groupby("custodian", sort=True):
        ws = wb.create_sheet(title=str(cust)[:31])
        ws.append(CSV_COLUMNS)
        for row in g.assign(batch_id=batch_id)[CSV_COLUMNS].itertuples(index=False, name=None):
            ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _next_batch_id(conn, when: datetime) -> str:
    day = when.strftime("%Y%m%d")
    B = m.ExportBatch.__table__
    n = conn.execute(select(func.count()).select_from(B).where(B.c.id.like(f"B{day}-%"))).scalar_one()
    return f"B{day}-{n + 1:04d}"


def _before_commit(batch_id: str) -> None:
    """A seam for tests to inject a failure between writing the files and committing."""


def export_batch(engine: Engine, out_dir: str | os.PathLike, formats=("csv", "fix"), *,
                 user: str | None = None, state: TaskState | None = None) -> BatchResult | None:
    """Export one batch; ``None`` when nothing approved is waiting (nothing is written)."""
    from engine.workflow import current_policy

    state = ensure_state(state)
    user = acting_user(engine, user, "operator")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise RefusedError(f"unknown export format(s) {', '.join(bad) or '(none)'}; use {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    written: list[Path] = []
    state.progress(0.0, "collecting approved trades")
    try:
        return _export(engine, out_dir, formats, user, state, written)
    except _NothingToExport:
        return None


class _NothingToExport(Exception):
    pass


def _export(engine, out_dir: Path, formats, user, state, written) -> BatchResult:
    from engine.workflow import current_policy

    with engine.begin() as conn:
        repo.take_lock(conn, "export", user)  # one export at a time, across workstations
        _repair_manifests(conn)
        trades, stale = _exportable(conn)
        if not len(trades):
            raise _NothingToExport
        policy = current_policy(conn)
        when = datetime.now(timezone.utc).replace(tzinfo=None)
        batch_id = _next_batch_id(conn, when)
        conn.execute(insert(m.ExportBatch.__table__).values(
            id=batch_id, created_at=when, created_by=user, snapshot_id=int(trades["snapshot_id"].max()),
            out_dir=str(out_dir.resolve()), n_trades=0, n_accounts=0, manifest="{}"))
        lines = order_lines(trades, policy.trading.multi_lot_order_lines)
        state.check()
        try:
            files = []
            makers = {"csv": (".csv", lambda: _csv_bytes(lines, batch_id)),
                      "fix": (".fix", lambda: _fix_bytes(lines, batch_id, when)),
                      "xlsx": (".xlsx", lambda: _xlsx_bytes(lines, batch_id))}
            for k, fmt in enumerate(formats):
                suffix, make = makers[fmt]
                state.progress(0.1 + 0.7 * k / len(formats), f"writing {fmt.upper()}")
                path = out_dir / f"trades_{batch_id}{suffix}"
                # a file of this id can only be left over from an export that died before its
                # commit (the batch is not in the database and has no manifest): replace it
                digest = atomic_write_bytes(path, make())
                written.append(path)
                files.append({"name": path.name, "format": fmt, "sha256": digest, "bytes": path.stat().st_size})
                state.check()
            manifest = {"batch_id": batch_id, "created_at": when.isoformat(timespec="seconds") + "Z",
                        "user": user, "counts": {
                            "trades": int(len(trades)), "order_lines": int(len(lines)),
                            "accounts": int(trades["account_id"].nunique()),
                            "buys": int((lines["side"] == "BUY").sum()), "sells": int((lines["side"] == "SELL").sum()),
                            "by_category": {k: int(v) for k, v in lines["category"].value_counts().items()},
                            "by_custodian": {k: int(v) for k, v in lines["custodian"].value_counts().items()}},
                        "files": files, "audit_head": audit_head(conn)}
            mpath = out_dir / f"batch_{batch_id}.json"
            state.progress(0.9, "recording the batch")
            ids = trades["id"].astype(int).tolist()
            for start in range(0, len(ids), 5000):
                # still approved and not sent: a reject, an edit or another export that committed
                # since the trades were read leaves a row out, and the whole batch is refused
                done = conn.execute(update(T).where(T.c.id.in_(ids[start:start + 5000]), T.c.batch_id.is_(None),
                                                    T.c.status == "APPROVED")
                                    .values(batch_id=batch_id, status="EXPORTED"))
                if done.rowcount != len(ids[start:start + 5000]):
                    raise RefusedError("some trades were rejected, edited or exported by someone else while the "
                                       "batch was being written; nothing exported: export again")
            conn.execute(update(m.ExportBatch.__table__).where(m.ExportBatch.id == batch_id).values(
                n_trades=len(trades), n_accounts=manifest["counts"]["accounts"], manifest=json.dumps(manifest)))
            _mark_requests_filled(conn, trades, batch_id, user)
            repo.audit(conn, user, "EXPORT", detail=f"batch {batch_id}: {len(lines):,} order lines, "
                       f"{len(trades):,} trades, {manifest['counts']['accounts']:,} accounts to {out_dir}",
                       after={"batch_id": batch_id, "files": files}, at=when)
            _before_commit(batch_id)
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
    # the manifest comes last, after the commit: a batch is complete when its manifest exists
    # (an export killed right after its commit gets its manifest rewritten by the next export)
    atomic_write_bytes(mpath, json.dumps(manifest, indent=2).encode())
    state.progress(1.0, f"batch {batch_id} exported")
    return BatchResult(batch_id, [(str(out_dir / f["name"]), f["sha256"]) for f in files] +
                       [(str(mpath), None)], int(len(trades)), manifest["counts"]["accounts"], int(len(lines)), stale)


def _repair_manifests(conn) -> None:
    """Write the manifest of any committed batch whose manifest file is missing."""
    B = m.ExportBatch.__table__
    for batch_id, out_dir, manifest in conn.execute(select(B.c.id, B.c.out_dir, B.c.manifest)
                                                    .order_by(B.c.created_at.desc()).limit(20)):
        path = Path(out_dir) / f"batch_{batch_id}.json"
        if manifest and manifest != "{}" and not path.exists() and Path(out_dir).is_dir():
            atomic_write_bytes(path, json.dumps(json.loads(manifest), indent=2).encode())


def _mark_requests_filled(conn, trades: pd.DataFrame, batch_id: str, user: str) -> None:
    """A cash request is filled when the batch raises at least its amount for the account."""
    from engine.manual import _set_request_state

    snap = repo.snapshot_info(conn)
    cr = m.CashRequest.__table__
    cs = m.CashRequestState.__table__
    accounts = trades["account_id"].unique().tolist()
    req = read_frame(conn, select(cr.c.request_id, cr.c.account_id, cr.c.amount, cr.c.due_date, cs.c.status)
                     .select_from(cr.outerjoin(cs, cs.c.request_id == cr.c.request_id))
                     .where(cr.c.snapshot_id == snap.id, cr.c.account_id.in_(accounts)))
    if not len(req):
        return
    req = req[req["status"].fillna("open") != "filled"]
    sign = trades["side"].map({"SELL": 1.0, "BUY": -1.0})
    raised = (trades["est_value"].fillna(0.0) * sign).groupby(trades["account_id"]).sum()
    cash = dict(conn.execute(select(m.Account.account_id, m.Account.cash).where(
        m.Account.snapshot_id == snap.id, m.Account.account_id.in_(accounts))).all())
    for acc, g in req.sort_values("due_date").groupby("account_id"):
        avail = float(cash.get(acc, 0.0)) + float(raised.get(acc, 0.0))
        for rid, amount in zip(g["request_id"], g["amount"]):
            if avail + 0.005 >= amount:
                avail -= amount
                _set_request_state(conn, rid, acc, "filled", user, batch_id)
                repo.audit(conn, user, "CASH_REQUEST_FILLED", account_id=acc, detail=f"{rid} by batch {batch_id}",
                           after={"status": "filled", "batch_id": batch_id})


def batches_frame(engine: Engine) -> pd.DataFrame:
    B = m.ExportBatch.__table__
    with engine.connect() as conn:
        return read_frame(conn, select(B).where(B.c.n_trades > 0).order_by(B.c.created_at.desc()))


def batch_trades(engine: Engine, batch_id: str) -> pd.DataFrame:
    """The trades locked to one batch."""
    with engine.connect() as conn:
        return read_frame(conn, select(T).where(T.c.batch_id == batch_id).order_by(T.c.account_id, T.c.id))
