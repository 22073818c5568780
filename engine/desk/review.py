"""Review decisions on a run's proposals: approve, reject, edit a trade — with the checks.

State machine per proposal (category MANDATE or SCORE):
    auto   → APPROVED by the run itself
    review → PROPOSED → APPROVED | REJECTED (a reviewer may change their mind until export)
    edit   → the proposal goes (back) to PROPOSED and needs an approval
A proposal of a run that is not the latest of the latest book is stale: refused.
Every decision is audited with the user; the version column catches concurrent changes
(:class:`ConflictError`).

Four-eyes (``four_eyes = true`` on a tier of the policy): a proposal whose trades were edited
can only be approved by a user who did not edit it (:class:`FourEyesError`). The tier's setting
is on when it is on in the run's policy or in the current one (switching it on applies at once;
switching it off applies from the next run).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select, update

from engine.core.identity import acting_user
from engine.core.tasks import RefusedError, same_user
from engine.desk.runs import latest_run as latest_run  # its home; re-exported
from storage import models as m
from storage import compact_detail
from storage import repo
from storage.bulk import id_in, in_chunks, read_frame

P = m.Proposal.__table__
T = m.Trade.__table__
T2 = T.alias("of_proposal")
TRADING = ("MANDATE", "SCORE")


class ConflictError(RefusedError):
    """Someone else changed what the user loaded (a newer version): refresh and retry."""


class FourEyesError(RefusedError):
    """Four-eyes: the user who entered or edited something cannot also approve it."""


def editors_of(value) -> list[str]:
    """The users of a ``;``-separated ``edited_by`` value, in order."""
    return [u for u in str(value or "").split(";") if u] if isinstance(value, str) else []


def four_eyes_tiers(conn, run_id: int | None = None) -> set[str]:
    """Tiers under four-eyes: on in the current policy or in the policy run ``run_id`` used."""
    from engine.core.policy import policy_from_toml
    from engine.core.policy_store import current_policy

    tiers = current_policy(conn).four_eyes_tiers()
    if run_id is not None:
        r, pol = m.Run.__table__, m.Policy.__table__
        row = conn.execute(select(pol.c.id, pol.c.body).select_from(r.join(pol, pol.c.id == r.c.policy_id))
                           .where(r.c.id == run_id)).first()
        if row is not None:
            tiers |= policy_from_toml(row[1], f"policy version {row[0]}").four_eyes_tiers()
    return tiers


def refuse(cls: type[RefusedError], head: str, lines: list[str]):
    """Raise ``cls``: one problem reads as its own first line (a message box's headline)."""
    if len(lines) == 1:
        raise cls(f"{lines[0]}\n{head}; nothing changed")
    raise cls(f"{head}; nothing changed:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class Decision:
    approved: list[str]
    rejected: list[str]
    # approved accounts whose trades something in force now blocks (a hold, a halt, ...):
    # account -> why; they stay approved and go out once it ends (engine.desk.compliance)
    blocked: dict = field(default_factory=dict)


def reject_reason(conn, reason: str | None, code: str | None) -> tuple[str | None, str]:
    """A rejection's (code, text): the text is required, the code one of the policy's list."""
    from engine.core.policy_store import current_policy

    text = (reason or "").strip()
    if not text:
        raise RefusedError("a rejection needs a reason: say why (--reason TEXT, and optionally --code, one of "
                           + ", ".join(current_policy(conn).reject_codes()) + "); nothing changed")
    if code is not None:
        code = code.strip().upper()
        codes = current_policy(conn).reject_codes()
        if code not in codes:
            raise RefusedError(f"reject code {code!r} is not one of the policy's codes: {', '.join(codes)}")
    return code or None, text



def check_not_stale(conn, run_id: int) -> None:
    r = m.Run.__table__
    run = conn.execute(select(r.c.id, r.c.snapshot_id, r.c.as_of).where(r.c.id == run_id)).first()
    snap = repo.snapshot_info(conn)
    if snap is not None and run.snapshot_id != snap.id:
        raise RefusedError(f"run {run_id} was made on the book as of {run.as_of} (snapshot {run.snapshot_id}); "
                           f"a newer book (snapshot {snap.id}, as of {snap.as_of}) was imported since: "
                           "run the workflow again")
    newest = conn.execute(select(func.max(r.c.id)).where(r.c.status == "done")).scalar()
    if newest != run_id:
        raise RefusedError(f"run {run_id} is superseded by run {newest}: review the newest run")


def _exported(conn, proposal_ids) -> set[int]:
    if not len(proposal_ids):
        return set()
    return {r[0] for r in conn.execute(select(T.c.proposal_id).distinct().where(
        id_in(conn, T.c.proposal_id, proposal_ids), T.c.batch_id.is_not(None)))}



def undecidable(account: str, row, run_id: int, verb: str) -> str | None:
    """Why account ``account``'s proposal ``row`` (None: not in run ``run_id``) cannot be
    ``verb``-ed at all, or None: a decision, an undo and their checks share these two refusals."""
    if row is None:
        return f"{account}: not in run {run_id}"
    if row.category not in TRADING:
        return f"{account}: nothing to {verb} (category {row.category})"
    return None


def decide(engine: Engine, account_ids: list[str], *, approve: bool = True, user: str | None = None,
           run_id: int | None = None, expected_versions: dict[str, int] | None = None,
           reason: str | None = None, code: str | None = None, note: str | None = None,
           note_code: str | None = None) -> Decision:
    """Approve (or reject) the proposals of ``account_ids`` in the latest run, in one transaction.

    A rejection needs a ``reason`` (text) and may name a ``code`` of the policy's
    ``[review] reject_codes``; both are stored on the proposal and in the audit log. ``note`` (and
    ``note_code``, one of the policy's ``[notes] codes``) is kept in the notes (a rejection's
    reason is its note); the policy can require one (engine.core.notes). An approval
    re-checks the overrides, suspensions and restrictions in force now: the accounts they block
    are approved but named in ``Decision.blocked`` (and the audit), and are not exported while
    the block lasts."""
    user = acting_user(engine, user, "reviewer")
    action, status = ("APPROVE", "APPROVED") if approve else ("REJECT", "REJECTED")
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        raise RefusedError("no accounts given")
    with engine.begin() as conn:
        code, reason = (None, None) if approve else reject_reason(conn, reason, code)
        run_id = run_id or latest_run(conn)[0]
        check_not_stale(conn, run_id)
        cols = (P.c.id, P.c.account_id, P.c.category, P.c.status, P.c.version, P.c.tier, P.c.edited_by,
                P.c.decided_by)
        rows = pd.concat([read_frame(conn, select(*cols).where(P.c.run_id == run_id, P.c.account_id.in_(part)))
                          for part in in_chunks(ids)], ignore_index=True)
        found = dict(zip(rows["account_id"], rows.itertuples(index=False)))
        problems, conflicts, four_eyes = [], [], []
        guarded = four_eyes_tiers(conn, run_id) if approve and rows["edited_by"].notna().any() else set()
        for a in ids:
            r = found.get(a)
            why = undecidable(a, r, run_id, action.lower())
            if why:
                problems.append(why)
            elif expected_versions and expected_versions.get(a, r.version) != r.version:
                by = f" by {r.decided_by}" if isinstance(r.decided_by, str) and r.decided_by else ""
                conflicts.append(f"{a}: changed by someone else since you loaded it (now {r.status}{by}, "
                                 f"version {r.version}; you loaded version {expected_versions[a]}); "
                                 "refresh and retry")
            elif r.tier in guarded and any(same_user(user, e) for e in editors_of(r.edited_by)):
                four_eyes.append(f"four-eyes: the proposal for account {a} ({r.tier}) was edited by "
                                 f"{', '.join(editors_of(r.edited_by))}; a different user must approve it")
        exported = _exported(conn, [found[a].id for a in ids if a in found])
        problems += [f"{a}: already exported" for a in ids if a in found and found[a].id in exported]
        if problems or conflicts or four_eyes:
            cls = FourEyesError if four_eyes else ConflictError if conflicts else RefusedError
            refuse(cls, f"{action.lower()} refused", four_eyes + conflicts + problems)
        from engine.core.notes import record_note, require_notes
        from engine.core.policy_store import current_policy

        note, note_code = require_notes(current_policy(conn), action.lower(), {a: found[a].tier for a in ids},
                                        note if approve else (note or reason), note_code)
        now = repo.now()
        todo = [found[a] for a in ids if found[a].status != status]
        pids = [int(r.id) for r in todo]
        # set-based (a desk approves tens of thousands at once): one UPDATE of the trades, then one
        # of the proposals per version they were loaded at (a handful); trades first, then the
        # proposals: the order edit_trade and the exporter lock them in; never a trade an export took
        if todo:
            # by trade id (their proposals' trades), so that SQLite looks the rows up by id rather
            # than scanning every unexported trade through the batch_id index
            of_proposals = select(T2.c.id).where(id_in(conn, T2.c.proposal_id, pids))
            conn.execute(update(T).where(T.c.id.in_(of_proposals), T.c.status != "REMOVED",
                                         T.c.batch_id.is_(None)).values(status=status))
            by_version: dict[int, list[int]] = {}
            for r in todo:
                by_version.setdefault(int(r.version), []).append(int(r.id))
            changed = 0
            for ver, part in by_version.items():
                # only a proposal still at the version read: one someone else decided meanwhile is left out
                changed += conn.execute(update(P).where(id_in(conn, P.c.id, part), P.c.version == ver).values(
                    status=status, decided_by=user, decided_at=now, version=ver + 1,
                    decision_code=code, decision_reason=reason)).rowcount
            if changed != len(todo):  # a version moved under us: someone else decided first
                raise ConflictError(f"{len(todo) - changed:,} of the proposals were changed by someone else "
                                    "meanwhile; nothing changed: refresh and retry")
            late = _exported(conn, pids)  # an export committed after our first read
            if late:
                names = [r.account_id for r in todo if r.id in late]
                raise ConflictError(f"{', '.join(names[:5])}{' …' if len(names) > 5 else ''}: exported by "
                                    "someone else meanwhile; nothing changed")
        blocked = {}
        if approve:
            from engine.desk.compliance import proposals_blocked

            blocked = proposals_blocked(conn, run_id, ids)
        record_note(conn, user, [r.account_id for r in todo], "approval" if approve else "rejection", note,
                    note_code, ref=f"run {run_id}", at=now)
        why = f": {code + ' — ' if code else ''}{reason}" if reason else (
            f": note: {note_code + ' — ' if note_code else ''}{note}" if note else "")
        repo.audit_many(conn, [dict(user=user, action=action, account_id=r.account_id, detail=f"run {run_id}{why}",
                                    before={"status": r.status},
                                    after={"status": status, **({"code": code, "reason": reason} if reason else {}),
                                           **({"blocked": blocked[r.account_id]} if r.account_id in blocked else {})},
                                    at=now)
                               for r in todo])
    return Decision(ids if approve else [], [] if approve else ids, blocked)


def approve(engine, account_ids, **kw) -> Decision:
    return decide(engine, account_ids, approve=True, **kw)


def reject(engine, account_ids, **kw) -> Decision:
    return decide(engine, account_ids, approve=False, **kw)


# --------------------------------------------------------------------------- edits
def allocate_lots(lots: pd.DataFrame, quantity: int, price: float) -> list[tuple[str, int]]:
    """Lots to sell ``quantity`` shares from: losses first (deepest first), then highest basis."""
    df = lots[lots["quantity"] > 0].copy()
    df["gain"] = price - df["unit_cost"].astype(float)
    df = df.sort_values(["gain", "unit_cost"], ascending=[True, False], kind="stable")
    df = pd.concat([df[df["gain"] < 0], df[df["gain"] >= 0].sort_values("unit_cost", ascending=False,
                                                                         kind="stable")])
    out, left = [], int(quantity)
    for lot_id, q in zip(df["lot_id"], df["quantity"]):
        if left <= 0:
            break
        take = int(min(left, np.floor(q)))
        if take > 0:
            out.append((lot_id, take))
            left -= take
    return out


def account_trades_check(conn, snapshot_id: int, account_id: str, trades: pd.DataFrame,
                         cash_needed: float, cost_bps: float, ticket_cost: float,
                         restricted_sell_all: dict[str, float] | None = None) -> list[str]:
    """Reasons a set of order lines breaks the account's constraints (empty = fine)."""
    problems = []
    acc = conn.execute(select(m.Account.cash).where(m.Account.snapshot_id == snapshot_id,
                                                    m.Account.account_id == account_id)).first()
    cash = float(acc[0]) if acc else 0.0
    held = dict(conn.execute(select(m.Lot.symbol, func.sum(m.Lot.quantity)).where(
        m.Lot.snapshot_id == snapshot_id, m.Lot.account_id == account_id).group_by(m.Lot.symbol)).all())
    k = cost_bps / 1e4
    sells = trades[trades["side"] == "SELL"]
    buys = trades[trades["side"] == "BUY"]
    for sym, q in sells.groupby("symbol")["quantity"].sum().items():
        if q > held.get(sym, 0) + 1e-9:
            problems.append(f"sells {q:,.0f} {sym} but the account holds {held.get(sym, 0):,.0f}")
    for sym, need in (restricted_sell_all or {}).items():
        sold = float(sells[sells["symbol"] == sym]["quantity"].sum())
        if sold + 1e-9 < need:
            problems.append(f"{sym} is restricted: all {need:,.0f} shares must be sold (only {sold:,.0f})")
    cash_post = (cash + float((sells["quantity"] * sells["est_price"]).sum()) * (1 - k)
                 - float((buys["quantity"] * buys["est_price"]).sum()) * (1 + k) - ticket_cost * len(trades))
    if cash_post < -0.005:
        problems.append(f"overspends cash: ${-cash_post:,.2f} short after the trades (cash ${cash:,.2f})")
    elif cash_post + 0.005 < cash_needed:
        problems.append(f"leaves ${cash_post:,.2f} cash, short of the ${cash_needed:,.2f} cash request due")
    return problems


def edit_trade(engine: Engine, trade_id: int, *, quantity: int | None = None, remove: bool = False,
               user: str | None = None) -> None:
    """Change a proposed trade's quantity, or remove it; refused (with the reason) if the
    account's constraints would break. The proposal then needs an approval."""
    from engine.core.policy_store import current_policy

    user = acting_user(engine, user, "reviewer")
    if not remove and (quantity is None or int(quantity) != quantity or quantity <= 0):
        raise RefusedError("the quantity must be a whole number of shares above 0 (or remove the trade)")
    with engine.begin() as conn:
        tr = conn.execute(select(T).where(T.c.id == trade_id)).mappings().first()
        if tr is None or tr["proposal_id"] is None:
            raise RefusedError(f"trade {trade_id} is not a proposed trade")
        if tr["batch_id"] is not None:
            raise RefusedError(f"trade {trade_id} was exported in batch {tr['batch_id']}; it cannot change")
        if tr["status"] == "REMOVED":
            raise RefusedError(f"trade {trade_id} was already removed")
        prop = conn.execute(select(P).where(P.c.id == tr["proposal_id"])).mappings().first()
        check_not_stale(conn, prop["run_id"])
        policy = current_policy(conn)
        detail = json.loads(compact_detail.text_of(conn, prop) or "{}")
        trades = read_frame(conn, select(T.c.id, T.c.symbol, T.c.side, T.c.quantity, T.c.est_price)
                            .where(T.c.proposal_id == prop["id"], T.c.status != "REMOVED"))
        if remove:
            trades = trades[trades["id"] != trade_id]
        else:
            trades.loc[trades["id"] == trade_id, "quantity"] = int(quantity)
        restricted = detail.get("must_sell", {})
        frozen = set(detail.get("frozen", []))
        problems = []
        if tr["symbol"] in frozen:
            problems.append(f"{tr['symbol']} is halted (freeze): it cannot be traded")
        if tr["side"] == "BUY" and not remove and tr["symbol"] in set(detail.get("no_buy", [])) \
                and quantity > tr["quantity"]:
            problems.append(f"{tr['symbol']} may not be bought (restriction or wash sale)")
        problems += account_trades_check(conn, tr["snapshot_id"], tr["account_id"], trades,
                                         float(detail.get("cash_needed", 0.0)), policy.trading.cost_bps,
                                         policy.trading.ticket_cost, restricted)
        if problems:
            raise RefusedError(f"edit of {tr['side']} {tr['symbol']} refused for {tr['account_id']}: "
                               + "; ".join(problems))
        before = {"quantity": tr["quantity"], "lots": tr["lots"], "status": tr["status"]}
        # every trade of the proposal first (the order decide and the exporter lock them in),
        # never one that an export has taken meanwhile
        conn.execute(update(T).where(T.c.proposal_id == prop["id"], T.c.status != "REMOVED",
                                     T.c.batch_id.is_(None)).values(status="PROPOSED"))
        if _exported(conn, [prop["id"]]):
            raise ConflictError(f"{tr['account_id']}: exported by someone else meanwhile; nothing changed")
        if remove:
            conn.execute(update(T).where(T.c.id == trade_id).values(status="REMOVED"))
            after = {"removed": True}
        else:
            lots = tr["lots"]
            if tr["side"] == "SELL":
                lot_df = read_frame(conn, select(m.Lot.lot_id, m.Lot.quantity, m.Lot.unit_cost).where(
                    m.Lot.snapshot_id == tr["snapshot_id"], m.Lot.account_id == tr["account_id"],
                    m.Lot.symbol == tr["symbol"]))
                lots = ";".join(f"{l}:{q}" for l, q in allocate_lots(lot_df, int(quantity), tr["est_price"]))
            conn.execute(update(T).where(T.c.id == trade_id).values(
                quantity=int(quantity), est_value=int(quantity) * tr["est_price"], lots=lots, status="PROPOSED"))
            after = {"quantity": int(quantity), "lots": lots}
        editors = editors_of(prop["edited_by"])
        editors += [user] if user not in editors else []
        done = conn.execute(update(P).where(P.c.id == prop["id"], P.c.version == prop["version"]).values(
            status="PROPOSED", review="review", decided_by=None, decided_at=None, version=prop["version"] + 1,
            edited_by=";".join(editors)))
        if done.rowcount != 1:
            raise ConflictError(f"{tr['account_id']}: changed by someone else meanwhile; nothing changed")
        # the numbers the reviewer approves describe the edited trades (the run's score code)
        from engine.decide.rescore import rescore_proposal

        score_before, score_after = rescore_proposal(conn, prop["id"])
        repo.audit(conn, user, "EDIT" if not remove else "REMOVE_TRADE", account_id=tr["account_id"],
                   symbol=tr["symbol"], detail=f"trade {trade_id} {tr['side']} {tr['symbol']}",
                   before={**before, "proposal": score_before}, after={**after, "proposal": score_after})


def proposal_trades(engine: Engine, account_id: str, run_id: int | None = None) -> pd.DataFrame:
    with engine.connect() as conn:
        run_id = run_id or latest_run(conn)[0]
        pid = conn.execute(select(P.c.id).where(P.c.run_id == run_id, P.c.account_id == account_id)).scalar()
        if pid is None:
            raise RefusedError(f"{account_id}: not in run {run_id}")
        return read_frame(conn, select(T).where(T.c.proposal_id == pid).order_by(T.c.side.desc(), T.c.symbol))


def trade_value(engine: Engine, account_ids, *, run_id: int | None = None) -> float:
    """Dollars of the (not removed) proposed trades of ``account_ids`` in a run (default: the
    latest) — what a bulk approval of those accounts approves."""
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return 0.0
    with engine.connect() as conn:
        run_id = run_id or latest_run(conn)[0]
        total = 0.0
        for start in range(0, len(ids), 5000):
            total += float(conn.execute(select(func.coalesce(func.sum(T.c.est_value), 0.0)).where(
                T.c.proposal_id.in_(select(P.c.id).where(P.c.run_id == run_id,
                                                         P.c.account_id.in_(ids[start:start + 5000]))),
                T.c.status != "REMOVED")).scalar_one())
    return total
