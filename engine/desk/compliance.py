"""Overrides bind until the file is written: which approved trades are blocked now, and why.

A run honours the holds, halts, suspensions and restrictions in force when it runs; this module
re-checks a set of trades against those in force *now* — at approval, inside the export
transaction, and for the console's counts — so an override entered after a run stops its trades
at once, and ending it lets them go again without a re-run.

What blocks a trade (the reason names what blocked it):

* ``HELD: <reason>`` — an active hold on the account: all its trades.
* ``HALTED: SYM (freeze): <reason>`` — a freeze halt: every trade of the symbol.
* ``HALTED: SYM (hold-accounts): <reason>`` — a hold-accounts halt: every trade of an account
  whose trades (in the set checked) buy or sell the symbol.
* ``SUSPENDED: CODE`` — a suspension opened after the trade was made (a manual trade entered
  for an account already suspended is the way such accounts trade, so it is not blocked by
  the suspension it was entered under).
* ``RESTRICTED: SYM (rule)`` — a buy of a security the account restricts in the latest book.
* ``CASH_REQUEST_HANDLED: ID`` — a proposal that raises cash for a request marked handled by
  manual trades after the proposal was made: the cash would be raised twice. Only the
  proposal's trades wait (the manual trades that handle the request go).

An account's trades go out together or not at all: whatever blocks one of them keeps all of
the account's trades in the set back (with the same reasons), so a proposal is never sent half
(a buy without the sale that funds it) and an account's trades of one book stay in one batch.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
from sqlalchemy import and_, or_, select

from engine.core import clock
from engine.decide.overrides import ActiveOverrides, active_overrides
from storage import models as m
from storage import compact_detail, repo
from storage.bulk import in_chunks, read_frame
from storage.columnar import text_in

T = m.Trade.__table__
P = m.Proposal.__table__


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series([], dtype="int64"), "account_id": pd.Series([], dtype=object),
                         "symbol": pd.Series([], dtype=object), "side": pd.Series([], dtype=object),
                         "quantity": pd.Series([], dtype="int64"), "blocked": pd.Series([], dtype=object)})


def blocked_trades(conn, as_of: date | None, trades: pd.DataFrame,
                   overrides: ActiveOverrides | None = None) -> pd.DataFrame:
    """The trades of ``trades`` (rows of the trades table) that what is in force on ``as_of``
    (default: the latest book's date) blocks: id, account_id, symbol, side, quantity and
    ``blocked`` (the reasons, ``; ``-joined).

    ``overrides`` replaces the active overrides (to ask what a new override would stop); the
    suspension, restriction and cash-request checks are then left out.
    """
    if trades is None or not len(trades):
        return _empty()
    snap = repo.snapshot_info(conn)
    if as_of is None:
        as_of = snap.as_of if snap is not None else clock.today()
    everything = overrides is None and snap is not None
    t = trades.reset_index(drop=True)
    acc = t["account_id"].astype(str).tolist()
    sym = t["symbol"].astype(str).tolist()
    why = _override_reasons(overrides if overrides is not None else active_overrides(conn, as_of), acc, sym)
    if everything:
        _suspension_reasons(conn, t, acc, why)
        # a proposal made on the latest book already honours its restrictions: only manual trades
        # and trades made on an older book are checked against them
        older = (t["proposal_id"].isna() | (t["snapshot_id"] != snap.id)).to_numpy(bool) if "snapshot_id" in t \
            else [True] * len(t)
        side = [sd if o else "" for sd, o in zip(t["side"].astype(str).tolist(), older)]
        _restriction_reasons(conn, snap.id, acc, sym, side, why)
    # an account's trades go out together or not at all: sells fund buys, and an account's trades
    # of one book are sent in one batch; so what blocks one trade keeps the account's others back
    # (``why`` is sparse, position -> reasons: a batch has 200,000 trades and few are blocked)
    by_account: dict[str, list[str]] = {}
    for i in sorted(why):
        by_account.setdefault(acc[i], []).extend(why[i])
    why = {i: list(dict.fromkeys(by_account[a])) for i, a in enumerate(acc) if a in by_account} if by_account else {}
    if everything:
        # a proposal that raises cash for a request handled by manual trades since it was made
        # would raise it twice: the proposal waits (the manual trades themselves go)
        for i, reasons in _cash_handled(conn, t).items():
            why.setdefault(i, []).extend(reasons)
    rows = [i for i in sorted(why) if why[i]]
    out = t.iloc[rows][["id", "account_id", "symbol", "side", "quantity"]].copy()
    out["blocked"] = ["; ".join(dict.fromkeys(why[i])) for i in rows]
    return out.reset_index(drop=True)


def _override_reasons(ov: ActiveOverrides, acc: list[str], sym: list[str]) -> dict[int, list[str]]:
    """Position -> the holds and halts that block the trade, for the trades they block
    (hold-accounts: every trade of an account that trades the halted symbol)."""
    if not (ov.hold_accounts or ov.holds or ov.freeze):
        return {}
    halted: dict[str, list[str]] = {}
    for a, s in zip(acc, sym):
        if s in ov.hold_accounts:
            text = f"HALTED: {s} (hold-accounts): {ov.hold_accounts[s]}"
            if text not in halted.setdefault(a, []):
                halted[a].append(text)
    why: dict[int, list[str]] = {}
    for i, (a, s) in enumerate(zip(acc, sym)):
        w = [f"HELD: {ov.holds[a]}"] if a in ov.holds else []
        if s in ov.freeze:
            w.append(f"HALTED: {s} (freeze): {ov.freeze[s]}")
        w += halted.get(a, [])
        if w:
            why[i] = w
    return why


def _suspension_reasons(conn, t: pd.DataFrame, acc: list[str], why: dict[int, list[str]]) -> None:
    """Suspensions of the account opened after the trade was made."""
    S = m.Suspension.__table__
    accounts = sorted(set(acc))
    susp = read_frame(conn, select(S.c.account_id, S.c.code, S.c.since).where(
        S.c.resolved_at.is_(None), text_in(conn, S.c.account_id, accounts)))  # one parameter, however many
    if not len(susp):
        return
    created = pd.to_datetime(t["created_at"]) if "created_at" in t else pd.Series(pd.NaT, index=t.index)
    by_acc = {a: list(zip(g["code"], pd.to_datetime(g["since"]))) for a, g in susp.groupby("account_id")}
    for i, a in enumerate(acc):
        for code, since in by_acc.get(a, ()):
            if pd.isna(created.iat[i]) or since > created.iat[i]:
                why.setdefault(i, []).append(f"SUSPENDED: {code}")


def _restriction_reasons(conn, snapshot_id: int, acc: list[str], sym: list[str], side: list[str],
                         why: dict[int, list[str]]) -> None:
    """Buys of a security the account restricts in the latest book."""
    from engine.decide.mandates import restricted_pairs

    buys = sorted({a for a, sd in zip(acc, side) if sd == "BUY"})
    if not buys:
        return
    A, Sec = m.Account.__table__, m.Security.__table__
    rows = read_frame(conn, select(A.c.account_id, A.c.restrictions).where(
        A.c.snapshot_id == snapshot_id, text_in(conn, A.c.account_id, buys), A.c.restrictions.is_not(None)))
    if not len(rows):
        return
    secs = read_frame(conn, select(Sec.c.symbol, Sec.c.tags).where(Sec.c.snapshot_id == snapshot_id))
    pairs = restricted_pairs(rows, secs)
    rule = dict(zip(zip(pairs["account_id"], pairs["symbol"]), pairs["rule"]))
    for i, (a, s, sd) in enumerate(zip(acc, sym, side)):
        r = rule.get((a, s)) if sd == "BUY" else None
        if r is not None:
            why.setdefault(i, []).append(f"RESTRICTED: {s} ({r})")


def _cash_handled(conn, t: pd.DataFrame) -> dict[int, list[str]]:
    """Row position -> reasons, for trades of proposals that counted a cash need (their detail's
    ``cash_needed``) whose account has a request marked handled by manual trades since."""
    props = t[t["proposal_id"].notna()]
    if not len(props):
        return {}
    cs = m.CashRequestState.__table__
    handled = read_frame(conn, select(cs.c.request_id, cs.c.account_id, cs.c.updated_at, cs.c.updated_by)
                         .where(cs.c.status == "handling", cs.c.account_id.in_(sorted(set(props["account_id"])))))
    if not len(handled):
        return {}
    pids = sorted({int(p) for p in props.loc[props["account_id"].isin(set(handled["account_id"])), "proposal_id"]})
    need = {int(pid): float(json.loads(d or "{}").get("cash_needed", 0.0) or 0.0)
            for pid, d in compact_detail.texts_of(conn, pids).items()}
    made = pd.to_datetime(props["created_at"]).groupby(props["proposal_id"].astype("int64")).min()
    hit: dict[int, list[str]] = {}
    for pid in pids:
        if need.get(pid, 0.0) <= 0:
            continue
        a = props.loc[props["proposal_id"] == pid, "account_id"].iat[0]
        h = handled[(handled["account_id"] == a) & (pd.to_datetime(handled["updated_at"]) > made.get(pid))]
        if len(h):
            hit[pid] = [f"CASH_REQUEST_HANDLED: {r} (manual trades by {u})"
                        for r, u in zip(h["request_id"], h["updated_by"])]
    return {i: hit[int(pid)] for i, pid in enumerate(t["proposal_id"].tolist())
            if pd.notna(pid) and int(pid) in hit}


def describe_blocked(blocked: pd.DataFrame, limit: int = 20, per_account: int = 4) -> list[str]:
    """One line per blocked account: its trades left out (the first ``per_account`` named) and
    why (the first ``limit`` accounts)."""
    named: dict[str, list[str]] = {}
    why: dict[str, str] = {}
    for a, i, sd, q, s, b in zip(blocked["account_id"].tolist(), blocked["id"].tolist(), blocked["side"].tolist(),
                                 blocked["quantity"].tolist(), blocked["symbol"].tolist(), blocked["blocked"].tolist()):
        lst = named.setdefault(a, [])
        if len(lst) <= per_account:
            lst.append(f"{sd} {int(q):,} {s} (trade {int(i)})")
        why.setdefault(a, b)  # an account's trades share their reasons (cash ones: its proposal's)
    counts = blocked["account_id"].value_counts().to_dict() if len(blocked) else {}
    lines = []
    for a in sorted(named)[:limit]:
        more = counts[a] - per_account
        lines.append(f"{a}: {', '.join(named[a][:per_account])}" + (f" and {more:,} more trades" if more > 0 else "")
                     + f" — {why[a]}")
    if len(named) > limit:
        lines.append(f"… and {len(named) - limit:,} more account(s)")
    return lines


def override_impact(conn, *, account_id: str | None = None, symbol: str | None = None,
                    mode: str | None = None, reason: str = "") -> dict:
    """What a new hold (``account_id``) or halt (``symbol`` and ``mode``) would stop now among the
    trades not yet exported: counts of approved and proposed trades and their accounts."""
    from engine.desk.runs import latest_run

    try:
        run_id = latest_run(conn)[0]
    except Exception:  # noqa: BLE001 - no run yet: only manual trades
        run_id = None
    if account_id:
        ov = ActiveOverrides({account_id: reason or "new hold"}, {}, {})
        trades = _open_trades(conn, run_id, T.c.account_id == account_id)
    else:
        symbol = (symbol or "").strip().upper()
        freeze = mode != "hold-accounts"
        ov = ActiveOverrides({}, {symbol: reason or "new halt"} if freeze else {},
                             {} if freeze else {symbol: reason or "new halt"})
        touching = select(T.c.account_id).where(T.c.symbol == symbol, T.c.batch_id.is_(None))
        trades = _open_trades(conn, run_id, T.c.account_id.in_(touching))
        # an account is stopped when its own open trades trade the symbol (all of them then)
        trades = trades[trades["account_id"].isin(set(trades.loc[trades["symbol"] == symbol, "account_id"]))]
    blocked = blocked_trades(conn, None, trades, overrides=ov)
    stat = trades.set_index("id")["status"] if len(trades) else pd.Series(dtype=object)
    blocked["status"] = blocked["id"].map(stat)
    appr = blocked[blocked["status"] == "APPROVED"]
    prop = blocked[blocked["status"] != "APPROVED"]
    return {"approved_trades": int(len(appr)), "approved_accounts": int(appr["account_id"].nunique()),
            "proposed_trades": int(len(prop)), "proposed_accounts": int(prop["account_id"].nunique()),
            "accounts": int(blocked["account_id"].nunique())}


def _open_trades(conn, run_id, cond) -> pd.DataFrame:
    """Trades not yet exported that an override could stop (and ``cond``): the run's approved and
    proposed trades, and the approved or pending manual trades."""
    which = and_(T.c.proposal_id.is_(None), T.c.status.in_(["APPROVED", "PENDING_APPROVAL"]))
    if run_id is not None:
        which = or_(which, and_(T.c.proposal_id.in_(select(P.c.id).where(P.c.run_id == run_id)),
                                T.c.status.in_(["APPROVED", "PROPOSED"])))
    cols = [T.c.id, T.c.account_id, T.c.symbol, T.c.side, T.c.quantity, T.c.proposal_id, T.c.status]
    return read_frame(conn, select(*cols).where(T.c.batch_id.is_(None), which, cond))


def impact_text(impact: dict) -> str:
    """The override dialog's sentence about what a new override stops."""
    def n(k, word):
        v = impact[k]
        return f"{v:,} {word}{'' if v == 1 else 's'}"
    parts = [f"{n(k + '_trades', k + ' trade')} of {n(k + '_accounts', 'account')}"
             for k in ("approved", "proposed") if impact[k + "_trades"]]
    if not parts:
        return "It stops no trade that is approved or proposed now."
    return f"It stops {' and '.join(parts)} (not exported while it is in force)."


def proposals_blocked(conn, run_id: int, account_ids: list[str] | None = None) -> dict[str, str]:
    """account_id -> why its not yet exported approved/proposed trades are blocked now."""
    cond = and_(T.c.proposal_id.in_(select(P.c.id).where(P.c.run_id == run_id)), may_be_blocked(conn))
    if account_ids is not None:
        if not account_ids:
            return {}
        parts = [read_frame(conn, select(T).where(cond, T.c.batch_id.is_(None), T.c.account_id.in_(part),
                                                   T.c.status.in_(["APPROVED", "PROPOSED"])))
                 for part in in_chunks(account_ids)]
        trades = pd.concat(parts, ignore_index=True)
    else:
        trades = read_frame(conn, select(T).where(cond, T.c.batch_id.is_(None),
                                                  T.c.status.in_(["APPROVED", "PROPOSED"])))
    blocked = blocked_trades(conn, None, trades)
    return {a: "; ".join(dict.fromkeys(r for b in g["blocked"] for r in b.split("; ")))
            for a, g in blocked.groupby("account_id")}


def may_be_blocked(conn, as_of: date | None = None):
    """A condition on trades that every trade :func:`blocked_trades` could block satisfies (a
    cheap pre-filter for counts over a whole book): its account is held, suspended or has a
    cash request handled by manual trades, or it trades a halted symbol in an account, or it
    is a manual trade (checked against the latest book's restrictions)."""
    if as_of is None:
        snap = repo.snapshot_info(conn)
        as_of = snap.as_of if snap is not None else clock.today()
    ov = active_overrides(conn, as_of)
    S, cs = m.Suspension.__table__, m.CashRequestState.__table__
    halted = sorted(set(ov.freeze) | set(ov.hold_accounts))
    conds = [T.c.proposal_id.is_(None),
             T.c.account_id.in_(select(S.c.account_id).where(S.c.resolved_at.is_(None))),
             T.c.account_id.in_(select(cs.c.account_id).where(cs.c.status == "handling"))]
    if ov.holds:
        conds.append(T.c.account_id.in_(sorted(ov.holds)))
    if halted:
        conds.append(T.c.account_id.in_(select(T.c.account_id).where(T.c.symbol.in_(halted),
                                                                     T.c.batch_id.is_(None))))
    return or_(*conds)


def preview_override(engine, *, account_id: str | None = None, symbol: str | None = None,
                     mode: str | None = None) -> dict | None:
    """:func:`override_impact` for the console's confirmation before an override is saved;
    ``None`` when there is no book or the account or symbol is not in it (adding it is then
    refused by :mod:`engine.decide.overrides` with its own message)."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return None
        if account_id:
            known = conn.execute(select(m.Account.account_id).where(
                m.Account.snapshot_id == snap.id, m.Account.account_id == account_id)).first()
        else:
            known = conn.execute(select(m.Security.symbol).where(
                m.Security.snapshot_id == snap.id, m.Security.symbol == (symbol or "").strip().upper())).first()
        if known is None:
            return None
        return override_impact(conn, account_id=account_id, symbol=symbol, mode=mode)
