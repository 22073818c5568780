"""One-click batch export: every approved, not yet exported trade, exactly once.

Files (CONTRACT.md §3) are written atomically (temp + fsync + rename) into the target folder's
staging subfolder (engine.desk.publish); one database transaction records the batch (files, SHA-256,
counts, user, time), locks each trade to it and marks cash requests met; only then are the files
moved into the target folder. If anything fails before the commit, the staged files are removed
and no trade is marked exported; an export killed on the way is finished or cleaned up by the
next one (engine.desk.publish.recover). No account's trades of one book go out in two batches
(engine.decide.batch_guard).

Overrides bind until the file is written: inside the export transaction the approved trades are
re-checked (:mod:`engine.desk.compliance`); what a hold, halt, new suspension, restriction or a cash
request handled elsewhere blocks now is left out, stays approved, and is named in the result
(``BatchResult.blocked``), the preview and the audit (``EXPORT_BLOCKED``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, func, insert, or_, select, update

from engine.desk import batch_files, publish
from engine.core.audit_chain import audit_head
from engine.decide.batch_guard import describe_kept_back, kept_back, not_in_earlier_batch
from engine.core.identity import acting_user
from engine.desk.lot_instructions import FIX_LOTS_TAG, lot_rows, lots_csv_bytes, merge_lots
from engine.core.safe_text import fix_value, sheet_titles
from engine.core.tasks import RefusedError, TaskState, ensure_state
from storage import models as m
from storage import repo
from storage.bulk import id_in, read_frame
from storage.columnar import columns_frame, read_columns

T = m.Trade.__table__
FORMATS = ("csv", "fix", "xlsx", "signoff")  # signoff: the printable sign-off (engine.desk.signoff)
CSV_COLUMNS = ["batch_id", "account_id", "custodian", "symbol", "side", "quantity", "est_price", "est_value",
               "lot_id", "category", "reason", "lots"]
# text columns: a cell starting with = + - @ is written with a leading ' (engine.core.safe_text)
TEXT_COLUMNS = ["batch_id", "account_id", "custodian", "symbol", "side", "lot_id", "category", "reason", "lots"]
SENDER = "REBALDESK"
# the columns of the trades an export reads: what the files, the manifest, the sign-off and the
# re-check of what is in force use (not their status or batch: known here)
READ_COLUMNS = ("id", "proposal_id", "snapshot_id", "account_id", "custodian", "symbol", "side", "quantity",
                "est_price", "est_value", "lots", "category", "reason", "created_at",
                "created_by", "approved_by", "four_eyes")  # the sign-off's manual trades and four-eyes


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    files: list[tuple[str, str]]  # (path, sha256)
    n_trades: int
    n_accounts: int
    n_lines: int
    skipped_stale: int = 0
    # approved trades kept back by an override, suspension or restriction in force at export:
    # id, account_id, symbol, side, quantity, blocked (why); they stay approved in the book
    blocked: pd.DataFrame | None = None
    kept_back: tuple = ()  # (account_id, n_trades, reason): approved trades not sent, and why


def exportable(conn):
    """The condition on trades that an export sends: approved and never exported, of the latest
    run (if it ran on the latest book) or manual, of an account none of whose trades of the same
    book is in a batch yet. The console's "approved, not yet exported" counts use it too, so they
    count what an export would send."""
    return and_(_approved_unsent(conn), not_in_earlier_batch())


def _approved_unsent(conn):
    """:func:`exportable` before the one-batch-per-account-and-book rule."""
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


def blocked_now(conn) -> pd.DataFrame:
    """The approved, exportable trades that something in force now blocks (with why)."""
    from engine.desk.compliance import blocked_trades, may_be_blocked

    cols = [T.c.id, T.c.account_id, T.c.symbol, T.c.side, T.c.quantity, T.c.proposal_id, T.c.snapshot_id,
            T.c.created_at]
    return blocked_trades(conn, None, read_frame(conn, select(*cols).where(exportable(conn), may_be_blocked(conn))))


def _exportable(conn) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Approved trades never exported (see :func:`exportable`) that nothing in force now blocks,
    how many approved trades of older runs are left out (stale), and the blocked ones with why
    (:func:`engine.desk.compliance.blocked_trades`: holds, halts, suspensions, restrictions)."""
    from engine.desk.compliance import blocked_trades

    # column by column from the DBAPI cursor (storage.columnar): no Row objects, no from_records
    trades = columns_frame(read_columns(conn, select(*[T.c[c] for c in READ_COLUMNS]).where(exportable(conn))))
    proposed = int(trades["proposal_id"].notna().sum()) if len(trades) else 0
    blocked = blocked_trades(conn, None, trades)
    if len(blocked):
        trades = trades[~trades["id"].isin(blocked["id"])]
    stale = conn.execute(select(func.count()).select_from(T).where(
        T.c.status == "APPROVED", T.c.batch_id.is_(None), T.c.proposal_id.is_not(None))).scalar_one() - proposed
    return trades.sort_values(["account_id", "side", "symbol", "id"], ascending=[True, False, True, True],
                              kind="stable").reset_index(drop=True), int(stale), blocked


def export_preview(engine: Engine) -> dict:
    """What an export would send now, what it would keep back (``blocked``, ``blocked_lines``: per
    account, its trades and why) and what waits elsewhere (stale, four-eyes)."""
    from engine.desk.compliance import describe_blocked

    with engine.connect() as conn:
        trades, stale, blocked = _exportable(conn)
        awaiting = conn.execute(select(func.count()).select_from(T).where(
            T.c.status == "PENDING_APPROVAL", T.c.batch_id.is_(None))).scalar_one()
        kept = kept_back(conn, _approved_unsent(conn))
    return {"trades": int(len(trades)), "accounts": int(trades["account_id"].nunique()) if len(trades) else 0,
            "value": float(trades["est_value"].fillna(0).sum()) if len(trades) else 0.0, "stale": stale,
            "awaiting_approval": int(awaiting), "blocked": int(len(blocked)),
            "blocked_accounts": int(blocked["account_id"].nunique()), "blocked_lines": describe_blocked(blocked),
            "kept_back": int(kept["trade_ids"].map(len).sum()) if len(kept) else 0}


def order_lines(trades: pd.DataFrame, multi_lot: bool) -> pd.DataFrame:
    """Aggregate trades per account, symbol and side (one line per lot sold when ``multi_lot``).
    A sell line's ``lots`` (``LOT:shares;...``, one entry per lot) sums to its quantity when its
    trades name their lots; ``lot_id`` lists the same lots."""
    t = trades.copy()
    t["lots"] = t["lots"].fillna("")
    if multi_lot:
        sells = t[(t["side"] == "SELL") & (t["lots"] != "")].copy()
        sells["lot"] = sells["lots"].str.split(";")
        sells = sells.explode("lot")
        sells["quantity"] = sells["lot"].str.rsplit(":", n=1).str[1].astype(int)
        sells["lots"] = sells["lot"]
        sells["lot_key"] = sells["lot"].str.rsplit(":", n=1).str[0]
        sells = sells.drop(columns="lot")
        rest = t[~t.index.isin(sells.index.unique())].assign(lot_key="")
        t = pd.concat([rest, sells])
        key = ["account_id", "symbol", "side", "lot_key"]
    else:
        key = ["account_id", "symbol", "side"]
    rank = {"MANUAL": 0, "MANDATE": 1, "SCORE": 2}
    t["crank"] = t["category"].map(rank).fillna(3).astype(int)
    t["reason"] = t["reason"].fillna("")
    g = t.groupby(key, sort=False, as_index=False).agg(
        custodian=("custodian", "first"), quantity=("quantity", "sum"), est_price=("est_price", "first"),
        crank=("crank", "min"), lot_shares=("lots", "first"), reason=("reason", "first"))
    multi = t[t.duplicated(key, keep=False)]
    if len(multi):  # the few lines made of several trades: merge their lots and join their reasons
        joined = multi.groupby(key, sort=False).agg(
            lot_shares=("lots", merge_lots),
            reason=("reason", lambda s: ";".join(dict.fromkeys(x for x in s if x))))
        g = g.set_index(key)
        g.loc[joined.index, ["lot_shares", "reason"]] = joined[["lot_shares", "reason"]].to_numpy()
        g = g.reset_index()
    g["lots"] = g["lot_shares"].where(g["side"] == "SELL", "")
    g["lot_id"] = g["lots"].str.replace(r":\d+", "", regex=True)
    g["category"] = g["crank"].map({v: k for k, v in rank.items()}).fillna("SCORE")
    g["est_price"] = g["est_price"].astype(float)
    g["est_value"] = (g["quantity"] * g["est_price"]).round(2)
    g = g.sort_values(["account_id", "side", "symbol"], ascending=[True, False, True], kind="stable")
    return g.drop(columns=["crank", "lot_shares"] + (["lot_key"] if "lot_key" in g else [])).reset_index(drop=True)


def _csv_bytes(lines: pd.DataFrame, batch_id: str) -> bytes:
    out = lines.assign(batch_id=batch_id)
    out["est_price"] = out["est_price"].round(4)
    return batch_files.csv_bytes(out, CSV_COLUMNS, TEXT_COLUMNS)  # written from columns


def fix_message(fields: list[tuple[int, object]]) -> bytes:
    """One FIX 4.4 message: BeginString, BodyLength (9) and CheckSum (10) around ``fields``
    (header and body tags in order, starting with 35). Checked against simplefix in the tests.
    A value carrying SOH or another control character is refused (ValueError), never framed."""
    body = "".join(f"{tag}={fix_value(tag, value)}\x01" for tag, value in fields).encode()
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + b"\x01"
    msg = head + body
    return msg + b"10=" + f"{sum(msg) % 256:03d}".encode() + b"\x01"


def _fix_bytes(lines: pd.DataFrame, batch_id: str, when: datetime) -> bytes:
    stamp = when.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    # every message at once, from columns (engine.desk.batch_files): the bytes fix_message writes
    data = batch_files.fix_bytes(lines, batch_id, stamp, SENDER, FIX_LOTS_TAG)
    if data is not None:
        return data
    cols = [lines[c].astype(object).tolist() for c in ("account_id", "custodian", "symbol", "side", "quantity",
                                                       "lots")]
    return _fix_bytes_each(cols, batch_id, stamp)  # a value it must refuse: named by the per-message writer


def _fix_bytes_each(cols, batch_id: str, stamp: str) -> bytes:
    out = []
    for seq, (acc, cust, sym, side, qty, lots) in enumerate(zip(*cols), 1):
        # a sell's lots ride in a user-defined tag, in the trades file's format (LOT:shares;...)
        extra = [(FIX_LOTS_TAG, lots)] if lots else []
        out.append(fix_message([(35, "D"), (49, SENDER), (56, cust), (34, seq), (52, stamp),
                                (11, f"{batch_id}-{seq:06d}"), (1, acc), (21, 1), (55, sym),
                                (54, 1 if side == "BUY" else 2), (60, stamp), (38, int(qty)), (40, 1)] + extra))
    return b"\n".join(out) + (b"\n" if out else b"")


def _xlsx_bytes(lines: pd.DataFrame, batch_id: str) -> bytes:
    """A sheet per custodian, the trades file's columns. Text cells are spreadsheet-safe and
    written as text, never read as a number, formula or link; a missing number is a blank cell.
    The sheets' XML is built from columns (engine.desk.batch_files.xlsx_bytes): the cells
    XlsxWriter wrote one by one (7 µs a cell), at a fraction of the time."""
    groups = list(lines.assign(batch_id=batch_id).groupby("custodian", sort=True))
    titles = sheet_titles(cust for cust, _ in groups)  # legal and unique whatever the custodian's name
    return batch_files.xlsx_bytes([(titles[cust], g) for cust, g in groups], CSV_COLUMNS, TEXT_COLUMNS)


def _next_batch_id(conn, when: datetime) -> str:
    day = when.strftime("%Y%m%d")
    B = m.ExportBatch.__table__
    n = conn.execute(select(func.count()).select_from(B).where(B.c.id.like(f"B{day}-%"))).scalar_one()
    return f"B{day}-{n + 1:04d}"


def _before_commit(batch_id: str) -> None:
    """A seam for tests to inject a failure between writing the files and committing."""


def _before_publish(batch_id: str) -> None:
    """A seam for tests to inject a failure between the commit and moving the files into place."""


def export_batch(engine: Engine, out_dir: str | os.PathLike, formats=("csv", "fix"), *,
                 user: str | None = None, state: TaskState | None = None, custodians=None,
                 exclude_custodians=(), lots: bool = True) -> BatchResult | None:
    """Export one batch; ``None`` when nothing approved is waiting (nothing is written; what is
    kept back is in :func:`kept_back_message`). ``custodians``: only these custodians' trades
    (None: all); ``exclude_custodians``: not these (the per-custodian routing of
    :mod:`engine.desk.export_routes`); ``lots`` False: no lots file."""
    state = ensure_state(state)
    user = acting_user(engine, user, "operator")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise RefusedError(f"unknown export format(s) {', '.join(bad) or '(none)'}; use {', '.join(FORMATS)}")
    from engine.core.files import check_out_dir

    out_dir = check_out_dir(out_dir)  # empty, a file, under a file, not writable: refused
    state.progress(0.0, "collecting approved trades")
    # first finish or clean up what an interrupted export left (its own transaction: kept even
    # when this export has nothing to send or fails)
    publish.recover_exports(engine, out_dir=out_dir, user=user)
    only = None if custodians is None else frozenset(str(c) for c in custodians)
    return _export(engine, out_dir, formats, user, state, (only, frozenset(str(c) for c in exclude_custodians)), lots)


def _for_custodians(trades: pd.DataFrame, which) -> pd.DataFrame:
    only, exclude = which
    keep = np.ones(len(trades), bool)
    cust = trades["custodian"].astype(str)
    if only is not None:
        keep &= cust.isin(only).to_numpy()
    if exclude:
        keep &= ~cust.isin(exclude).to_numpy()
    return trades if keep.all() else trades[keep].reset_index(drop=True)


def kept_back_message(engine: Engine) -> str | None:
    """What approved trades an export keeps back because their account's trades of the same
    book are already in a batch (``None`` when there are none)."""
    with engine.connect() as conn:
        kept = kept_back(conn, _approved_unsent(conn))
    return describe_kept_back(kept) if len(kept) else None


def _batch_facts(conn, trades: pd.DataFrame, lots: pd.DataFrame, multi_lot: bool) -> dict:
    """The manifest's description of what the batch is made of (CONTRACT.md §3)."""
    from engine.core.policy_store import latest_version

    snap = repo.snapshot_info(conn, int(trades["snapshot_id"].max()))
    r = m.Run.__table__
    run = conn.execute(select(r.c.id, r.c.policy_id).where(r.c.status == "done")
                       .order_by(r.c.id.desc()).limit(1)).first()
    run = run if run is not None and trades["proposal_id"].notna().any() else None
    value = trades["est_value"].astype(float).fillna(0.0)
    return {"as_of": str(snap.as_of), "run_id": None if run is None else int(run.id),
            "policy_version": int(run.policy_id) if run is not None else latest_version(conn),
            "multi_lot_order_lines": bool(multi_lot),
            "gross_buy": round(float(value[trades["side"] == "BUY"].sum()), 2),
            "gross_sell": round(float(value[trades["side"] == "SELL"].sum()), 2),
            "est_realized_gain": round(float(pd.to_numeric(lots["est_gain"], errors="coerce").fillna(0.0).sum()), 2),
            "lots_relieved": int(len(lots)),
            "audit_head": audit_head(conn)}  # the audit chain's head at export (engine.core.audit_chain)


def _export(engine, out_dir: Path, formats, user, state, which=(None, frozenset()), lots_file: bool = True,
            ) -> BatchResult | None:
    from engine.core.policy_store import current_policy

    staged: list[Path] = []
    with engine.begin() as conn:
        repo.take_lock(conn, "export", user)  # one export at a time, across workstations
        trades, stale, blocked = _exportable(conn)
        if which[0] is not None or which[1]:
            trades = _for_custodians(trades, which)
            blocked = _for_custodians(blocked, which) if len(blocked) and "custodian" in blocked else blocked
        kept = kept_back(conn, _approved_unsent(conn))
        if not len(trades):
            return None
        policy = current_policy(conn)
        when = datetime.now(timezone.utc).replace(tzinfo=None)
        batch_id = _next_batch_id(conn, when)
        conn.execute(insert(m.ExportBatch.__table__).values(
            id=batch_id, created_at=when, created_by=user, snapshot_id=int(trades["snapshot_id"].max()),
            out_dir=str(out_dir.resolve()), n_trades=0, n_accounts=0, manifest="{}"))
        multi_lot = policy.trading.multi_lot_order_lines
        lines = order_lines(trades, multi_lot)
        lots = lot_rows(conn, trades, batch_id)
        state.check()
        try:
            files = []
            makers = {"csv": (".csv", lambda: _csv_bytes(lines, batch_id)),
                      "fix": (".fix", lambda: _fix_bytes(lines, batch_id, when)),
                      "xlsx": (".xlsx", lambda: _xlsx_bytes(lines, batch_id))}
            jobs = [(fmt, f"trades_{batch_id}{makers[fmt][0]}", makers[fmt][1]) for fmt in formats if fmt in makers]
            if lots_file:
                jobs.append(("lots", f"lots_{batch_id}.csv", lambda: lots_csv_bytes(lots)))
            for k, (fmt, name, make) in enumerate(jobs):
                state.progress(0.1 + 0.7 * k / len(jobs), f"writing {fmt.upper()}")
                data = make()
                # staged, not yet in the drop folder: published after the commit (engine.desk.publish);
                # a staged file of this id can only be left over from an export that never committed
                staged.append(publish.staging_dir(out_dir) / name)
                digest = publish.stage(out_dir, name, data)
                files.append({"name": name, "format": fmt, "sha256": digest, "bytes": len(data)})
                state.check()
            manifest = {"batch_id": batch_id, "created_at": when.isoformat(timespec="seconds") + "Z",
                        "user": user, "counts": {
                            "trades": int(len(trades)), "order_lines": int(len(lines)),
                            "accounts": int(trades["account_id"].nunique()),
                            "buys": int((lines["side"] == "BUY").sum()), "sells": int((lines["side"] == "SELL").sum()),
                            "by_category": {k: int(v) for k, v in lines["category"].value_counts().items()},
                            "by_custodian": {k: int(v) for k, v in lines["custodian"].value_counts().items()}},
                        "files": files, **_batch_facts(conn, trades, lots, multi_lot)}
            if "signoff" in formats:  # its SHA-256 in a field of its own: "files" stays the trade files
                manifest["signoff"] = _stage_signoff(conn, out_dir, staged, manifest, trades, when, user)
            if len(kept):
                manifest["kept_back"] = [{"account_id": a, "trades": len(ids), "reason": why}
                                         for a, ids, why in kept.itertuples(index=False, name=None)]
            mname = publish.manifest_name(batch_id)
            staged.append(publish.staging_dir(out_dir) / mname)
            publish.stage(out_dir, mname, publish.manifest_bytes(manifest))
            state.progress(0.9, "recording the batch")
            ids = trades["id"].astype(int).tolist()
            # one set-based UPDATE locks the batch's trades: still approved and not sent (a reject,
            # an edit or another export that committed since the trades were read leaves a row
            # out, and the whole batch is refused)
            done = conn.execute(update(T).where(id_in(conn, T.c.id, ids), T.c.batch_id.is_(None),
                                                T.c.status == "APPROVED")
                                .values(batch_id=batch_id, status="EXPORTED"))
            if done.rowcount != len(ids):
                raise RefusedError("some trades were rejected, edited or exported by someone else while the "
                                   "batch was being written; nothing exported: export again")
            conn.execute(update(m.ExportBatch.__table__).where(m.ExportBatch.id == batch_id).values(
                n_trades=len(trades), n_accounts=manifest["counts"]["accounts"], manifest=json.dumps(manifest)))
            _mark_requests_sent(conn, trades, batch_id, user, policy)
            repo.audit(conn, user, "EXPORT", detail=f"batch {batch_id}: {len(lines):,} order lines, "
                       f"{len(trades):,} trades, {manifest['counts']['accounts']:,} accounts to {out_dir}"
                       + (f"; {describe_kept_back(kept)}" if len(kept) else ""),
                       after={"batch_id": batch_id, "files": files, "kept_back": manifest.get("kept_back", [])},
                       at=when)
            if len(blocked):  # kept back by what is in force now: named in the audit too
                from engine.desk.compliance import describe_blocked

                repo.audit(conn, user, "EXPORT_BLOCKED", detail=f"batch {batch_id}: {len(blocked):,} approved "
                           f"trade(s) of {blocked['account_id'].nunique():,} account(s) kept back: "
                           + " | ".join(describe_blocked(blocked, 50)),
                           after={"batch_id": batch_id, "trades": blocked["id"].astype(int).tolist()[:1000]}, at=when)
            _before_commit(batch_id)
        except BaseException:
            for p in staged:
                p.unlink(missing_ok=True)
            publish.tidy(out_dir)
            raise
    # committed: now the files go into the drop folder, the manifest last (a batch is complete
    # when its manifest is there). Under the export lock, so that no other export's recovery
    # moves them at the same time; an export killed before this is finished by the next one.
    _before_publish(batch_id)
    with engine.begin() as conn:
        repo.take_lock(conn, "export", user)
        _, problems = publish.publish(out_dir, manifest)
    if problems:
        raise RuntimeError(f"batch {batch_id} is recorded but not all its files could be published: "
                           + "; ".join(problems))
    state.progress(1.0, f"batch {batch_id} exported")
    return BatchResult(batch_id, [(str(out_dir / f["name"]), f["sha256"])
                                  for f in files + manifest.get("signoff", [])] +
                       [(str(out_dir / mname), None)], int(len(trades)), manifest["counts"]["accounts"],
                       int(len(lines)), stale, blocked,
                       tuple((a, len(ids), why) for a, ids, why in kept.itertuples(index=False, name=None)))


def _stage_signoff(conn, out_dir: Path, staged: list, manifest: dict, trades: pd.DataFrame, when, user) -> list:
    """Stage the batch's sign-off (PDF and HTML, engine.desk.signoff); their entries for the manifest."""
    from engine.desk.signoff import signoff_facts, signoff_files

    batch = {"id": manifest["batch_id"], "created_at": when, "created_by": user,
             "snapshot_id": int(trades["snapshot_id"].max())}
    out = []
    for name, data in signoff_files(signoff_facts(conn, batch, manifest, trades)).items():
        staged.append(publish.staging_dir(out_dir) / name)
        digest = publish.stage(out_dir, name, data)
        out.append({"name": name, "format": "signoff-" + name.rsplit(".", 1)[1], "sha256": digest,
                    "bytes": len(data)})
    return out


def _mark_requests_sent(conn, trades: pd.DataFrame, batch_id: str, user: str, policy) -> None:
    """Owed cash requests the batch's trades cover become ``sent`` (engine.book.cash_owed.mark_sent);
    their cash stays reserved until a newer book no longer lists them."""
    from engine.book.cash_owed import mark_sent

    mark_sent(conn, trades, batch_id, user, policy.mandates.cash_horizon_days)


def batches_frame(engine: Engine) -> pd.DataFrame:
    B = m.ExportBatch.__table__
    with engine.connect() as conn:
        return read_frame(conn, select(B).where(B.c.n_trades > 0).order_by(B.c.created_at.desc()))


def batch_trades(engine: Engine, batch_id: str) -> pd.DataFrame:
    """The trades locked to one batch."""
    with engine.connect() as conn:
        return read_frame(conn, select(T).where(T.c.batch_id == batch_id).order_by(T.c.account_id, T.c.id))
