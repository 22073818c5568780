"""Manual trades for suspended accounts (the URGENT cash-out queue).

An operator enters order lines for one account; they are checked against what the custodian
holds (never more than held), unknown symbols are a warning (that is why the account is
suspended), and they go into the next batch as category MANUAL with who entered them.

Four-eyes: when the account's tier has ``four_eyes = true`` in the current policy, the trades
are recorded as ``PENDING_APPROVAL`` (never exported in that state) and only a user other than
the one who entered them can approve them (:func:`decide_manual_trades`); then they go into the
next batch. Without four-eyes, entering them approves them, as before.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select, update

from engine.book import cash_owed
from engine.core.identity import acting_user
from engine.desk.review import ConflictError, FourEyesError, allocate_lots, refuse
from engine.core.tasks import RefusedError, same_user
from engine.book.valuation import fill_unpriced, last_known_prices, unpriced, unpriced_symbols
from storage import models as m
from storage import repo
from storage.bulk import insert_frame, read_frame

PENDING = "PENDING_APPROVAL"  # a four-eyes manual trade awaiting its second approval
T = m.Trade.__table__


@dataclass(frozen=True)
class ManualTrade:
    symbol: str
    side: str
    quantity: int
    lot_id: str | None = None


QUANTITY = re.compile(r"[0-9]{1,3}(,[0-9]{3})+|[0-9]+")


def parse_quantity(text, field: str = "quantity") -> int:
    """A whole positive number of shares from what a user typed ("1,200" or "1200"); anything
    else ("1.5", "12.5abc-", "0", "-3", "") is refused naming ``field``, never reinterpreted."""
    raw = "" if text is None else str(text).strip()
    if isinstance(text, bool) or not QUANTITY.fullmatch(raw) or not raw.isascii():
        raise RefusedError(f"{field}: {raw!r} is not a whole number of shares (whole shares above 0, "
                           "e.g. 100 or 1,200)")
    q = int(raw.replace(",", ""))
    if q <= 0:
        raise RefusedError(f"{field}: {raw!r} is not above 0 shares")
    return q


@dataclass
class ManualCheck:
    """The engine's verdict on manual trades and the cash-out arithmetic a desk expects.

    The request is measured against ``cash_available`` (the account's cash above its model
    cash, less the cash of its other requests already raised), ``cash_entered`` (trades
    entered for the account that the book does not show yet: awaiting approval, awaiting
    export, or exported against this book) and ``cash_raised`` (the trades checked)."""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cash_raised: float = 0.0
    cash_requested: float = 0.0
    cash: float = 0.0
    model_cash: float = 0.0
    reserved_other: float = 0.0
    cash_available: float = 0.0
    cash_entered: float = 0.0
    entered: dict = field(default_factory=dict)  # awaiting approval / awaiting export / exported: $
    request: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def cash_total(self) -> float:
        return self.cash_available + self.cash_entered + self.cash_raised

    @property
    def short(self) -> float:
        return max(self.cash_requested - self.cash_total, 0.0)

    @property
    def covered(self) -> bool:
        return self.short < 0.005


def manual_context(engine: Engine, account_id: str) -> dict:
    """What the manual-trade dialog shows: the account, its holdings, lots and cash requests,
    its tier under the current policy (``tier_basis``: how holdings the book cannot price were
    valued for it) and whether four-eyes applies to it."""
    with engine.connect() as conn:
        return _context(conn, account_id)


def _context(conn, account_id: str, symbols=()) -> dict:
    """The account on the latest book; ``prices`` covers its holdings and ``symbols`` (a symbol
    absent from ``prices`` is not in the security master)."""
    from engine.core.policy_store import current_policy

    snap = repo.snapshot_info(conn)
    if snap is None:
        raise RefusedError("no book imported yet")
    a = m.Account.__table__
    acc = conn.execute(select(a).where(a.c.snapshot_id == snap.id, a.c.account_id == account_id)).mappings().first()
    if acc is None:
        raise RefusedError(f"account {account_id} is not in the book as of {snap.as_of}")
    lots = read_frame(conn, select(m.Lot.lot_id, m.Lot.symbol, m.Lot.quantity, m.Lot.unit_cost,
                                   m.Lot.acquired_date)
                      .where(m.Lot.snapshot_id == snap.id, m.Lot.account_id == account_id)
                      .order_by(m.Lot.symbol, m.Lot.lot_id))
    pos = read_frame(conn, select(m.CustodianPosition.symbol, m.CustodianPosition.quantity).where(
        m.CustodianPosition.snapshot_id == snap.id, m.CustodianPosition.account_id == account_id))
    syms = sorted(set(lots["symbol"]) | set(pos["symbol"]))
    ask = sorted(set(syms) | {str(x).strip().upper() for x in symbols if x})
    prices = dict(conn.execute(select(m.Security.symbol, m.Security.price).where(
        m.Security.snapshot_id == snap.id, m.Security.symbol.in_(ask))).all()) if ask else {}
    lot_q = lots.groupby("symbol")["quantity"].sum() if len(lots) else pd.Series(dtype=float)
    cus_q = pos.set_index("symbol")["quantity"] if len(pos) else pd.Series(dtype=float)
    has_custodian = conn.execute(select(m.CustodianPosition.account_id).where(
        m.CustodianPosition.snapshot_id == snap.id).limit(1)).first() is not None
    hold = pd.DataFrame({"symbol": syms})
    hold["lot_qty"] = hold["symbol"].map(lot_q).fillna(0.0).astype(float)
    hold["custodian_qty"] = (hold["symbol"].map(cus_q).fillna(0.0).astype(float) if has_custodian
                             else hold["lot_qty"])
    hold["price"] = hold["symbol"].map(lambda s: prices.get(s)).astype(float)
    hold["value"] = hold["custodian_qty"] * hold["price"]
    cr = m.CashRequest.__table__
    cs = m.CashRequestState.__table__
    req = read_frame(conn, select(cr.c.request_id, cr.c.amount, cr.c.due_date, cr.c.priority, cr.c.note,
                                  cs.c.status).select_from(cr.outerjoin(cs, cs.c.request_id == cr.c.request_id))
                     .where(cr.c.snapshot_id == snap.id, cr.c.account_id == account_id))
    if len(req):
        req["status"] = cash_owed.with_status(req, dict(zip(req["request_id"], req["status"]))).to_numpy(object)
    pending = read_frame(conn, select(m.Trade.symbol, m.Trade.side, m.Trade.quantity).where(
        m.Trade.account_id == account_id, m.Trade.category == "MANUAL", m.Trade.batch_id.is_(None),
        m.Trade.status.in_(["APPROVED", PENDING])))
    entered = cash_owed.entered_trades(conn, snap.id, [account_id])
    mw = m.ModelWeight.__table__
    model_cash_w = float(conn.execute(select(func.coalesce(func.sum(mw.c.weight), 0.0)).where(
        mw.c.snapshot_id == snap.id, mw.c.model_id == acc["model_id"], mw.c.symbol == "CASH")).scalar() or 0.0)
    # the account's value as a run values it for the tier: unpriced holdings at their last known
    # price (else cost basis), never left out
    lot_hold = (lots.groupby("symbol", as_index=False)["quantity"].sum() if len(lots)
                else pd.DataFrame({"symbol": pd.Series([], dtype=object), "quantity": pd.Series([], dtype=float)}))
    lot_hold.insert(0, "account_id", account_id)
    lot_hold["price"] = lot_hold["symbol"].map(lambda s: prices.get(s)).astype(float)
    last = last_known_prices(conn, snap.id, unpriced_symbols(lot_hold["symbol"].to_numpy(object),
                                                             pd.Series(prices, dtype=float)))
    filled = fill_unpriced(lot_hold, lots.assign(account_id=account_id), last)
    px = lot_hold["price"].to_numpy(float)
    value = float(acc["cash"]) + float(np.sum(lot_hold["quantity"].to_numpy(float) * np.where(unpriced(px), 0.0, px)))
    value += float(filled["extra"].sum()) if len(filled) else 0.0
    policy = current_policy(conn)
    ctx = {"snapshot_id": snap.id, "as_of": snap.as_of, "account": dict(acc), "holdings": hold,
           "lots": lots, "requests": req, "prices": prices, "pending": pending, "entered": entered,
           "model_cash_w": model_cash_w, "value": value,
           "tier_basis": str(filled["basis"].iat[0]) if len(filled) else None, "policy": policy}
    ctx["tier"] = account_tier(ctx, policy)
    ctx["four_eyes"] = policy.four_eyes(ctx["tier"])
    return ctx


def account_tier(ctx: dict, policy) -> str:
    """The account's tier under ``policy``, as a run would assign it (its ``group`` when that
    names a tier, else its value: cash plus its lots at the book's prices, holdings without a
    usable price at their last known price or cost basis — see :mod:`engine.book.valuation`)."""
    from engine.decide.mandates import assign_tiers

    group = np.array([ctx["account"].get("group_name")], dtype=object)
    return str(assign_tiers(np.array([float(ctx["value"])]), group, policy)[0])


def _cash_out(ctx: dict, res: "ManualCheck", request_id: str | None) -> None:
    """The cash-out arithmetic (see :class:`ManualCheck`): the request (or every listed request)
    against the account's spare cash, the trades entered for it and the trades checked."""
    req = ctx["requests"]
    cash = float(ctx["account"]["cash"])
    res.cash = cash
    res.model_cash = float(ctx["model_cash_w"]) * float(ctx["value"])
    res.request = request_id
    if len(req) and request_id is not None and request_id in set(req["request_id"]):
        res.cash_requested = float(req.loc[req["request_id"] == request_id, "amount"].iloc[0])
        others = req[(req["request_id"] != request_id) & req["status"].isin(cash_owed.RAISED)]
        res.reserved_other = float(others["amount"].sum())  # their cash is raised or being raised
    else:
        res.cash_requested = float(req["amount"].sum()) if len(req) else 0.0
    res.cash_available = max(cash - res.model_cash, 0.0) - res.reserved_other
    ent = ctx["entered"]
    if len(ent):
        kind = np.where(ent["batch_id"].notna().to_numpy(bool), "exported",
                        np.where(ent["status"].to_numpy(object) == PENDING, "awaiting approval", "awaiting export"))
        res.entered = {k: float(v) for k, v in ent["cash"].groupby(kind).sum().items()}
        res.cash_entered = float(ent["cash"].sum())


def _check(ctx: dict, trades: list[ManualTrade], request_id: str | None = None) -> ManualCheck:
    res = ManualCheck()
    hold = ctx["holdings"].set_index("symbol")
    lots = ctx["lots"]
    prices = ctx["prices"]
    _cash_out(ctx, res, request_id)
    if not trades:
        res.errors.append("enter at least one trade")
        return res
    sold: dict[str, float] = {}
    pend = ctx["pending"]
    for sym, q in pend[pend["side"] == "SELL"].groupby("symbol")["quantity"].sum().items() if len(pend) else []:
        sold[sym] = float(q)
    buys_value = 0.0
    for n, t in enumerate(trades, 1):
        sym = (t.symbol or "").strip().upper()
        where = f"line {n} ({t.side} {t.quantity} {sym or '?'})"
        if not sym:
            res.errors.append(f"{where}: a symbol is required")
            continue
        if t.side not in ("BUY", "SELL"):
            res.errors.append(f"{where}: side must be BUY or SELL")
            continue
        if isinstance(t.quantity, bool) or not isinstance(t.quantity, (int, np.integer)) or t.quantity <= 0:
            res.errors.append(f"{where}: quantity must be a whole number of shares above 0")
            continue
        price = prices.get(sym)
        held_here = sym in hold.index
        if sym not in prices:
            if t.side == "BUY":
                res.errors.append(f"{where}: symbol {sym} is not in the security master")
                continue
            if not held_here:
                res.errors.append(f"{where}: unknown symbol {sym}: not in the security master and not held")
                continue
            res.warnings.append(f"{where}: {sym} is not in the security master; no price to estimate cash")
        elif price is None or pd.isna(price):
            res.warnings.append(f"{where}: {sym} has no price; cash estimate leaves it out")
        elif float(price) <= 0:
            res.warnings.append(f"{where}: {sym} is priced {float(price):,.2f}, a bad price (BAD_PRICE); "
                                "cash estimate leaves it out")
        px = 0.0 if price is None or pd.isna(price) or float(price) <= 0 else float(price)
        if t.side == "SELL":
            held = float(hold["custodian_qty"].get(sym, 0.0)) if held_here else 0.0
            sold[sym] = sold.get(sym, 0.0) + t.quantity
            if sold[sym] > held + 1e-9:
                res.errors.append(f"{where}: sells {sold[sym]:,.0f} {sym} in all but the custodian holds {held:,.0f}")
            if t.lot_id:
                lot = lots[(lots["lot_id"] == t.lot_id) & (lots["symbol"] == sym)]
                if not len(lot):
                    res.errors.append(f"{where}: lot {t.lot_id} does not hold {sym}")
                elif t.quantity > float(lot["quantity"].iloc[0]) + 1e-9:
                    res.errors.append(f"{where}: lot {t.lot_id} holds only {float(lot['quantity'].iloc[0]):,.0f}")
            res.cash_raised += t.quantity * px
        else:
            res.cash_raised -= t.quantity * px
            buys_value += t.quantity * px
    cash = float(ctx["account"]["cash"]) + res.cash_entered
    if buys_value and cash + res.cash_raised < -0.005:
        res.errors.append(f"buys overspend cash: ${-(cash + res.cash_raised):,.2f} short")
    return res


def check_manual_trades(engine: Engine, account_id: str, trades: list[ManualTrade],
                        request_id: str | None = None) -> ManualCheck:
    """Check trades without recording them; the cash-out arithmetic measures ``request_id``
    (else every listed request of the account)."""
    with engine.connect() as conn:
        return _check(_context(conn, account_id, [t.symbol for t in trades]), trades, request_id)


def enter_manual_trades(engine: Engine, account_id: str, trades: list[ManualTrade], *, user: str | None = None,
                        request_id: str | None = None) -> list[int]:
    """Record the trades (category MANUAL) for the next batch: approved by entering them, or,
    under four-eyes for the account's tier, awaiting another user's approval."""
    user = acting_user(engine, user, "operator")
    with engine.begin() as conn:
        ctx = _context(conn, account_id, [t.symbol for t in trades])
        chk = _check(ctx, trades, request_id)
        if chk.errors:
            raise RefusedError(f"manual trades for {account_id} refused:\n  " + "\n  ".join(chk.errors))
        tier, four_eyes = ctx["tier"], ctx["four_eyes"]
        now = repo.now()
        rows = []
        for t in trades:
            sym = t.symbol.strip().upper()
            px = ctx["prices"].get(sym)
            px = None if px is None or pd.isna(px) else float(px)
            lots = None
            if t.side == "SELL":
                if t.lot_id:
                    lots = f"{t.lot_id}:{t.quantity}"
                elif px is not None:
                    alloc = allocate_lots(ctx["lots"][ctx["lots"]["symbol"] == sym], t.quantity, px)
                    if sum(q for _, q in alloc) == t.quantity:
                        lots = ";".join(f"{l}:{q}" for l, q in alloc)
            rows.append({"proposal_id": None, "snapshot_id": ctx["snapshot_id"], "account_id": account_id,
                         "custodian": ctx["account"]["custodian"], "symbol": sym, "side": t.side,
                         "quantity": int(t.quantity), "est_price": px,
                         "est_value": None if px is None else px * t.quantity, "lots": lots,
                         "category": "MANUAL", "reason": f"manual: entered by {user}"
                         + (f" for cash request {request_id}" if request_id else ""),
                         "status": PENDING if four_eyes else "APPROVED", "created_by": user, "created_at": now,
                         "four_eyes": four_eyes, "approved_by": None if four_eyes else user,
                         "approved_at": None if four_eyes else now})
        first = conn.execute(select(m.Trade.id).order_by(m.Trade.id.desc()).limit(1)).scalar() or 0
        insert_frame(conn, m.Trade.__table__, pd.DataFrame(rows))
        ids = [r[0] for r in conn.execute(select(m.Trade.id).where(
            m.Trade.id > first, m.Trade.account_id == account_id, m.Trade.category == "MANUAL",
            m.Trade.created_at == now).order_by(m.Trade.id))]
        for r, tid in zip(rows, ids):
            repo.audit(conn, user, "MANUAL_TRADE", account_id=account_id, symbol=r["symbol"],
                       detail=f"trade {tid}: {r['side']} {r['quantity']:,} {r['symbol']}"
                       + (f" (four-eyes, {tier}: awaits another user's approval)" if four_eyes else ""),
                       after={**{k: r[k] for k in ("side", "quantity", "est_price", "lots", "status")},
                              "tier": tier}, at=now)
        req = ctx["requests"]
        handle = [request_id] if request_id else (
            list(req[(req["priority"] == "high") & (req["status"] == "open")]["request_id"]) if len(req) else [])
        for rid in handle:
            cash_owed.set_state(conn, rid, account_id, "handling", user, None)
            repo.audit(conn, user, "CASH_REQUEST_HANDLING", account_id=account_id, detail=rid,
                       after={"status": "handling"}, at=now)
    return ids


# --------------------------------------------------------------------------- four-eyes approvals
def pending_manual_trades(engine_or_conn, account_ids: list[str] | None = None) -> pd.DataFrame:
    """Manual trades awaiting their second approval (oldest first), optionally of some accounts."""
    stmt = (select(T.c.id, T.c.account_id, T.c.custodian, T.c.symbol, T.c.side, T.c.quantity, T.c.est_price,
                   T.c.est_value, T.c.lots, T.c.reason, T.c.created_by, T.c.created_at, T.c.snapshot_id)
            .where(T.c.category == "MANUAL", T.c.status == PENDING, T.c.batch_id.is_(None)).order_by(T.c.id))
    if account_ids is not None:
        stmt = stmt.where(T.c.account_id.in_(list(account_ids)))
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return read_frame(conn, stmt)
    return read_frame(engine_or_conn, stmt)


def decide_manual_trades(engine: Engine, trade_ids: list[int] | None = None, *, account_ids: list[str] | None = None,
                         approve: bool = True, user: str | None = None) -> list[int]:
    """Approve (or reject) manual trades awaiting their second approval, all or nothing.

    ``trade_ids`` names the trades; ``account_ids`` takes every pending manual trade of those
    accounts. Approving a trade one entered oneself is refused (:class:`FourEyesError`; user
    names compared ignoring case); a trade someone else decided meanwhile is refused
    (:class:`ConflictError`); approving a trade entered on an older book snapshot than the latest
    is refused (:class:`RefusedError`: it was checked against holdings that may have changed;
    reject it and enter it again). Rejecting (also one's own pending trade, withdrawing it, or a
    trade of an older book) is allowed. Audited as MANUAL_APPROVE / MANUAL_REJECT.
    """
    user = acting_user(engine, user, "reviewer")
    action, status = ("MANUAL_APPROVE", "APPROVED") if approve else ("MANUAL_REJECT", "REJECTED")
    verb = "approve" if approve else "reject"
    if not trade_ids and not account_ids:
        raise RefusedError(f"no manual trades given to {verb}")
    with engine.begin() as conn:
        rows = []
        problems, conflicts, four_eyes = [], [], []
        if trade_ids:
            ids = list(dict.fromkeys(int(i) for i in trade_ids))
            found = read_frame(conn, select(T).where(T.c.id.in_(ids)))
            by_id = {int(i): r for i, r in zip(found["id"], found.to_dict("records"))}
            for i in ids:
                r = by_id.get(i)
                if r is None or r["category"] != "MANUAL":
                    problems.append(f"trade {i} is not a manual trade")
                elif r["status"] != PENDING:
                    by = r["approved_by"] if isinstance(r["approved_by"], str) else None
                    what = f"was {r['status'].lower()}" + (f" by {by}" if by else "")
                    if r["status"] in ("APPROVED", "REJECTED") and r["four_eyes"]:
                        conflicts.append(f"trade {i} for account {r['account_id']} {what} meanwhile; refresh")
                    else:
                        problems.append(f"trade {i} for account {r['account_id']} is not awaiting approval ({what})")
                else:
                    rows.append(r)
        if account_ids:
            got = pending_manual_trades(conn, account_ids)
            have = {r["id"] for r in rows}
            rows += [r for r in got.to_dict("records") if r["id"] not in have]
            missing = sorted(set(account_ids) - set(got["account_id"]))
            problems += [f"account {a} has no manual trade awaiting approval" for a in missing]
        if approve:
            four_eyes = [f"four-eyes: trade {r['id']} for account {r['account_id']} was entered by "
                         f"{r['created_by']}; a different user must approve it"
                         for r in rows if same_user(r["created_by"], user)]
            problems += _stale(conn, rows)
        if problems or conflicts or four_eyes:
            cls = FourEyesError if four_eyes else ConflictError if conflicts else RefusedError
            refuse(cls, f"{verb} of manual trades refused", four_eyes + conflicts + problems)
        now = repo.now()
        for r in rows:
            done = conn.execute(update(T).where(T.c.id == int(r["id"]), T.c.status == PENDING,
                                                T.c.batch_id.is_(None))
                                .values(status=status, approved_by=user, approved_at=now))
            if done.rowcount != 1:
                raise ConflictError(f"trade {r['id']} for account {r['account_id']} was decided by someone else "
                                    "meanwhile; nothing changed")
            repo.audit(conn, user, action, account_id=r["account_id"], symbol=r["symbol"],
                       detail=f"trade {r['id']}: {r['side']} {int(r['quantity']):,} {r['symbol']} "
                              f"entered by {r['created_by']}",
                       before={"status": PENDING}, after={"status": status}, at=now)
        if not approve:
            _reopen_requests(conn, {r["account_id"] for r in rows}, user, now)
    return [int(r["id"]) for r in rows]


def _stale(conn, rows: list[dict]) -> list[str]:
    """Why pending trades entered on an older book snapshot cannot be approved: they were checked
    against that book's holdings and lots, which may have changed (or been pruned) since."""
    snap = repo.snapshot_info(conn)
    if snap is None:
        return []
    out, dates = [], {}
    for r in rows:
        sid = r.get("snapshot_id")
        if sid is None or pd.isna(sid) or int(sid) == snap.id:
            continue
        sid = int(sid)
        if sid not in dates:
            info = repo.snapshot_info(conn, sid)
            dates[sid] = f"{info.as_of}" if info is not None else f"snapshot {sid}"
        entered = dates[sid]
        now = f"{snap.as_of}" if entered != f"{snap.as_of}" else f"{snap.as_of} (imported again since)"
        out.append(f"trade {int(r['id'])} for account {r['account_id']} was entered on the book of {entered}; "
                   f"the book is now {now}: its holdings may have changed, so reject it and enter it again")
    return out


def _reopen_requests(conn, accounts: set[str], user: str, now) -> None:
    """A cash request marked ``handling`` by manual trades goes back to ``open`` when none of the
    account's manual trades is left to export (they were all rejected)."""
    cs = m.CashRequestState.__table__
    for acc in sorted(accounts):
        left = conn.execute(select(T.c.id).where(T.c.account_id == acc, T.c.category == "MANUAL",
                                                 T.c.batch_id.is_(None),
                                                 T.c.status.in_(["APPROVED", PENDING])).limit(1)).first()
        if left is not None:
            continue
        for (rid,) in conn.execute(select(cs.c.request_id).where(cs.c.account_id == acc, cs.c.status == "handling")):
            cash_owed.set_state(conn, rid, acc, "open", user, None)
            repo.audit(conn, user, "CASH_REQUEST_OPEN", account_id=acc, detail=f"{rid}: its manual trades were "
                       "rejected", before={"status": "handling"}, after={"status": "open"}, at=now)
