"""Undo before export: withdraw an approval, restore a rejection or a removed trade.

Each takes a reason (stored on the proposal and in the audit log), respects the version check
of :mod:`engine.desk.review` (a concurrent change is a :class:`~engine.desk.review.ConflictError`), and is
refused for anything an export has taken: an exported trade is in a file already.

* :func:`withdraw` — APPROVED (by a reviewer or by the run) → PROPOSED, to be reviewed again.
* :func:`restore` — REJECTED → PROPOSED.
* :func:`restore_trade` — a REMOVED trade back into its proposal, which is re-checked against
  the account's constraints, re-scored and needs an approval again (an edit for four-eyes).
"""
from __future__ import annotations

import json

from sqlalchemy import Engine, bindparam, func, select, update

from engine.desk.review import (P, T, ConflictError, _exported, account_trades_check, check_not_stale,
                           editors_of, latest_run, refuse, undecidable)
from engine.core.identity import acting_user
from engine.core.tasks import RefusedError
from storage import compact_detail, repo
from storage.bulk import in_chunks, read_frame


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise RefusedError(f"{what} needs a reason: say why (--reason TEXT)")
    return text


def _batch_of(conn, pids) -> dict[int, str]:
    out = {}
    for part in in_chunks(list(pids)):
        out.update(dict(conn.execute(select(T.c.proposal_id, func.min(T.c.batch_id)).where(
            T.c.proposal_id.in_(part), T.c.batch_id.is_not(None)).group_by(T.c.proposal_id)).all()))
    return out


def _reopen(engine: Engine, account_ids: list[str], *, source: str, action: str, verb: str, reason: str | None,
            user: str | None, run_id: int | None, expected_versions: dict[str, int] | None) -> list[str]:
    """Proposals of ``account_ids`` in status ``source`` back to PROPOSED, in one transaction."""
    user = acting_user(engine, user, "reviewer")
    reason = _reason(reason, verb.capitalize())
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        raise RefusedError("no accounts given")
    with engine.begin() as conn:
        run_id = run_id or latest_run(conn)[0]
        check_not_stale(conn, run_id)
        rows = {r.account_id: r for part in in_chunks(ids) for r in conn.execute(
            select(P.c.id, P.c.account_id, P.c.category, P.c.status, P.c.version, P.c.decided_by)
            .where(P.c.run_id == run_id, P.c.account_id.in_(part)))}
        batches = _batch_of(conn, [r.id for r in rows.values()])
        problems, conflicts = [], []
        for a in ids:
            r = rows.get(a)
            why = undecidable(a, r, run_id, verb)
            if why:
                problems.append(why)
            elif r.id in batches:
                problems.append(f"{a}: exported in batch {batches[r.id]}; an exported trade cannot be {verb}n"
                                if verb == "withdraw" else f"{a}: exported in batch {batches[r.id]}; it cannot change")
            elif expected_versions and expected_versions.get(a, r.version) != r.version:
                conflicts.append(f"{a}: changed by someone else since you loaded it (now {r.status}, version "
                                 f"{r.version}; you loaded version {expected_versions[a]}); refresh and retry")
            elif r.status != source:
                problems.append(f"{a}: is {r.status}, not {source}: nothing to {verb}")
        if problems or conflicts:
            refuse(ConflictError if conflicts and not problems else RefusedError, f"{verb} refused",
                   conflicts + problems)
        now = repo.now()
        todo = [rows[a] for a in ids]
        pids = [int(r.id) for r in todo]
        for part in in_chunks(pids):  # trades first, then the proposals (the order decide uses)
            conn.execute(update(T).where(T.c.proposal_id.in_(part), T.c.status == source,
                                         T.c.batch_id.is_(None)).values(status="PROPOSED"))
        conn.execute(update(P).where(P.c.id == bindparam("pid"), P.c.version == bindparam("ver")).values(
            status="PROPOSED", review="review", decided_by=None, decided_at=None, version=bindparam("ver") + 1,
            decision_code=None, decision_reason=reason), [{"pid": int(r.id), "ver": int(r.version)} for r in todo])
        changed = sum(conn.execute(select(func.count()).select_from(P).where(
            P.c.id.in_(part), P.c.status == "PROPOSED", P.c.decision_reason == reason)).scalar_one()
            for part in in_chunks(pids))
        if changed != len(todo):
            raise ConflictError(f"{len(todo) - changed:,} of the proposals were changed by someone else meanwhile; "
                                "nothing changed: refresh and retry")
        if _exported(conn, pids):
            raise ConflictError("exported by someone else meanwhile; nothing changed")
        repo.audit_many(conn, [dict(user=user, action=action, account_id=r.account_id,
                                    detail=f"run {run_id}: {reason}",
                                    before={"status": r.status, "decided_by": r.decided_by},
                                    after={"status": "PROPOSED", "reason": reason}, at=now) for r in todo])
    return ids


def withdraw(engine: Engine, account_ids: list[str], *, reason: str | None, user: str | None = None,
             run_id: int | None = None, expected_versions: dict[str, int] | None = None) -> list[str]:
    """Withdraw the approval of these accounts' proposals (back to review); refused once exported."""
    return _reopen(engine, account_ids, source="APPROVED", action="WITHDRAW", verb="withdraw", reason=reason,
                   user=user, run_id=run_id, expected_versions=expected_versions)


def restore(engine: Engine, account_ids: list[str], *, reason: str | None, user: str | None = None,
            run_id: int | None = None, expected_versions: dict[str, int] | None = None) -> list[str]:
    """Restore rejected proposals to review."""
    return _reopen(engine, account_ids, source="REJECTED", action="RESTORE", verb="restore", reason=reason,
                   user=user, run_id=run_id, expected_versions=expected_versions)


def restore_trade(engine: Engine, trade_id: int, *, reason: str | None, user: str | None = None) -> None:
    """Put a removed trade back into its proposal: re-checked, re-scored, back to review."""
    from engine.decide.rescore import rescore_proposal
    from engine.core.policy_store import current_policy

    user = acting_user(engine, user, "reviewer")
    reason = _reason(reason, "Restoring a trade")
    with engine.begin() as conn:
        tr = conn.execute(select(T).where(T.c.id == trade_id)).mappings().first()
        if tr is None or tr["proposal_id"] is None:
            raise RefusedError(f"trade {trade_id} is not a proposed trade")
        if tr["status"] != "REMOVED":
            raise RefusedError(f"trade {trade_id} ({tr['side']} {tr['symbol']} for {tr['account_id']}) is "
                               f"{tr['status']}, not removed: nothing to restore")
        prop = conn.execute(select(P).where(P.c.id == tr["proposal_id"])).mappings().first()
        check_not_stale(conn, prop["run_id"])
        if _exported(conn, [prop["id"]]):
            raise RefusedError(f"{tr['account_id']}: its proposal was exported; trade {trade_id} cannot be restored")
        detail = json.loads(compact_detail.text_of(conn, prop) or "{}")
        policy = current_policy(conn)
        trades = read_frame(conn, select(T.c.id, T.c.symbol, T.c.side, T.c.quantity, T.c.est_price)
                            .where(T.c.proposal_id == prop["id"], (T.c.status != "REMOVED") | (T.c.id == trade_id)))
        problems = []
        if tr["symbol"] in set(detail.get("frozen", [])):
            problems.append(f"{tr['symbol']} is halted (freeze): it cannot be traded")
        problems += account_trades_check(conn, tr["snapshot_id"], tr["account_id"], trades,
                                         float(detail.get("cash_needed", 0.0)), policy.trading.cost_bps,
                                         policy.trading.ticket_cost, detail.get("must_sell", {}))
        if problems:
            raise RefusedError(f"restoring trade {trade_id} ({tr['side']} {tr['symbol']}) refused for "
                               f"{tr['account_id']}: " + "; ".join(problems))
        conn.execute(update(T).where(T.c.proposal_id == prop["id"], T.c.status != "REMOVED",
                                     T.c.batch_id.is_(None)).values(status="PROPOSED"))
        conn.execute(update(T).where(T.c.id == trade_id, T.c.status == "REMOVED").values(status="PROPOSED"))
        editors = editors_of(prop["edited_by"])
        editors += [user] if user not in editors else []
        done = conn.execute(update(P).where(P.c.id == prop["id"], P.c.version == prop["version"]).values(
            status="PROPOSED", review="review", decided_by=None, decided_at=None, version=prop["version"] + 1,
            edited_by=";".join(editors), decision_code=None, decision_reason=reason))
        if done.rowcount != 1:
            raise ConflictError(f"{tr['account_id']}: changed by someone else meanwhile; nothing changed")
        score_before, score_after = rescore_proposal(conn, prop["id"])
        repo.audit(conn, user, "RESTORE_TRADE", account_id=tr["account_id"], symbol=tr["symbol"],
                   detail=f"trade {trade_id} {tr['side']} {tr['symbol']}: {reason}",
                   before={"status": "REMOVED", "proposal": score_before},
                   after={"status": "PROPOSED", "reason": reason, "proposal": score_after})
