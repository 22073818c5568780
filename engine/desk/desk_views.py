"""The desk's daily read views: the order blotter, an account's history and a sell's lot detail.

* :func:`order_blotter` — every order line of the day in one frame: the latest run's proposed
  and approved trades, the manual trades waiting for export and the lines exported against the
  latest book, with the pre-export compliance check of :mod:`engine.desk.compliance` per line.
  :func:`filter_blotter` and :func:`blotter_totals` answer "how much XYZ are we selling today,
  and for whom?".
* :func:`account_history` — everything that happened to one account, newest first.
* :func:`trade_lot_detail` — the lots a proposal's sells relieve (the run's lot relief, as the
  lots file of a batch shows it) with cost, term, estimated gain and wash-sale status.

Read-only: nothing here writes to the database.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, or_, select

from storage import models as m
from storage import repo
from storage.bulk import read_frame

T = m.Trade.__table__
P = m.Proposal.__table__
R = m.Run.__table__
A = m.Account.__table__
B = m.ExportBatch.__table__

BLOTTER_COLUMNS = ["id", "account_id", "name", "custodian", "tier", "category", "side", "symbol", "quantity",
                   "est_price", "est_value", "status", "proposal_status", "batch_id", "blocked", "reason",
                   "proposal_id", "version"]
# the blotter's filters: the frame column each filters on
FILTERS = ("symbol", "custodian", "tier", "side", "status", "category", "batch_id")
WASH_WINDOW_DAYS = 30


def _latest_run_id(conn) -> int | None:
    return conn.execute(select(R.c.id).where(R.c.status == "done").order_by(R.c.id.desc()).limit(1)).scalar()


def _empty_blotter() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in BLOTTER_COLUMNS})


def order_blotter(engine: Engine) -> pd.DataFrame:
    """Every order line of the day (:data:`BLOTTER_COLUMNS`), sorted by symbol, side, account.

    Lines: the latest run's trades that are PROPOSED or APPROVED (not removed or rejected), the
    manual trades not yet exported (APPROVED or PENDING_APPROVAL) and every line exported against
    the latest book (status EXPORTED, with its batch). ``blocked`` is what in force now keeps a
    not-yet-exported line out of the next batch (a hold, a halt, a suspension, a restriction;
    blank = it would go), ``version`` the proposal's version for the bulk actions' checks."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return _empty_blotter()
        run_id = _latest_run_id(conn)
        open_lines = and_(T.c.batch_id.is_(None), or_(
            and_(T.c.proposal_id.is_(None), T.c.status.in_(("APPROVED", "PENDING_APPROVAL"))),
            and_(T.c.proposal_id.in_(select(P.c.id).where(P.c.run_id == (run_id or -1))),
                 T.c.status.in_(("PROPOSED", "APPROVED")))))
        sent = and_(T.c.batch_id.is_not(None), T.c.snapshot_id == snap.id)
        trades = read_frame(conn, select(T).where(or_(open_lines, sent)))
        if not len(trades):
            return _empty_blotter()
        props = read_frame(conn, select(P.c.id, P.c.account_id, P.c.tier, P.c.category, P.c.status, P.c.version)
                           .where(P.c.run_id == (run_id or -1)))
        names = read_frame(conn, select(A.c.account_id, A.c.name).where(A.c.snapshot_id == snap.id))
        from engine.desk.compliance import blocked_trades

        pending = trades[trades["batch_id"].isna()]
        blocked = blocked_trades(conn, None, pending) if len(pending) else None
    props = props.astype({"id": "int64"}) if len(props) else props
    df = trades.copy()
    pid = pd.to_numeric(df["proposal_id"], errors="coerce")
    own = props.set_index("id")
    df["tier"] = pid.map(own["tier"])  # a proposal's tier; a manual trade: its account's in the run
    df["tier"] = df["tier"].where(df["tier"].notna(), df["account_id"].map(props.set_index("account_id")["tier"]))
    df["proposal_status"] = pid.map(own["status"])
    df["version"] = pid.map(own["version"])
    df["name"] = df["account_id"].map(dict(zip(names["account_id"], names["name"])))
    why = dict(zip(blocked["id"], blocked["blocked"])) if blocked is not None and len(blocked) else {}
    df["blocked"] = df["id"].map(why)
    df = df.sort_values(["symbol", "side", "account_id", "id"], ascending=[True, False, True, True], kind="stable")
    return df[BLOTTER_COLUMNS].reset_index(drop=True)


class BlotterIndex:
    """A blotter frame prepared once for fast filters and totals (the console filters on every
    keystroke): each filter column factorized, quantities and values as arrays."""
    TOTAL_COLUMNS = ["symbol", "buy_shares", "sell_shares", "buy_value", "sell_value", "net_value", "accounts",
                     "lines"]

    def __init__(self, df: pd.DataFrame):
        self.n = len(df)
        self.codes: dict[str, np.ndarray] = {}
        self.lookup: dict[str, dict] = {}
        for key in FILTERS:
            col = df[key].astype(object).where(df[key].notna(), "") if key in df else pd.Series([""] * self.n)
            values = col.astype(str).str.upper() if key == "symbol" else col
            codes, uniques = pd.factorize(values.to_numpy(object))
            self.codes[key] = codes
            self.lookup[key] = {v: i for i, v in enumerate(uniques)}
        self.symbols = np.array(list(self.lookup["symbol"]), dtype=object)
        self.qty = pd.to_numeric(df["quantity"]).to_numpy(float) if self.n else np.zeros(0)
        self.value = pd.to_numeric(df["est_value"]).fillna(0.0).to_numpy(float) if self.n else np.zeros(0)
        self.buy = (df["side"] == "BUY").to_numpy(bool) if self.n else np.zeros(0, bool)
        self.account, _ = pd.factorize(df["account_id"].to_numpy(object)) if self.n else (np.zeros(0, int), None)
        self.n_accounts = int(self.account.max()) + 1 if self.n else 0
        # each (symbol, account) pair once: accounts per symbol under any mask are two bincounts,
        # never a sort or a hash of the lines (half a million on a 100,000-account book)
        pair = self.codes["symbol"].astype(np.int64) * max(self.n_accounts, 1) + self.account
        self.pair, first = pd.factorize(pair) if self.n else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.pair_symbol = (np.asarray(first) // max(self.n_accounts, 1)).astype(np.int64)

    def accounts(self, mask: np.ndarray | None = None) -> int:
        """How many accounts have a line under ``mask``."""
        a = self.account if mask is None else self.account[np.asarray(mask, bool)]
        return int(np.count_nonzero(np.bincount(a, minlength=self.n_accounts))) if len(a) else 0

    def mask(self, **filters) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for key, want in filters.items():
            if key not in FILTERS:
                raise ValueError(f"no blotter filter {key!r} (one of {', '.join(FILTERS)})")
            if want is None or want == "" or want == []:
                continue
            values = [want] if isinstance(want, str) else list(want)
            if key == "symbol":
                values = [str(v).strip().upper() for v in values]
            wanted = [self.lookup[key][v] for v in values if v in self.lookup[key]]
            mask &= np.isin(self.codes[key], wanted) if wanted else False
        return mask

    def totals(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        m = np.ones(self.n, bool) if mask is None else np.asarray(mask, bool)
        k = len(self.symbols)
        sc = self.codes["symbol"][m]
        if not len(sc):
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in self.TOTAL_COLUMNS})
        buy, q, v = self.buy[m], self.qty[m], self.value[m]
        out = pd.DataFrame({
            "symbol": self.symbols,
            "buy_shares": np.bincount(sc, q * buy, k), "sell_shares": np.bincount(sc, q * ~buy, k),
            "buy_value": np.bincount(sc, v * buy, k), "sell_value": np.bincount(sc, v * ~buy, k),
            "accounts": np.bincount(self.pair_symbol[np.bincount(self.pair[m], minlength=len(self.pair_symbol)) > 0],
                                    minlength=k),
            "lines": np.bincount(sc, minlength=k)})
        out["net_value"] = out["buy_value"] - out["sell_value"]
        out = out[out["lines"] > 0].sort_values("symbol", kind="stable").reset_index(drop=True)
        return out[self.TOTAL_COLUMNS]


def filter_mask(df: pd.DataFrame, **filters) -> np.ndarray:
    """Rows of a blotter frame matching every given filter (:data:`FILTERS`; a value, or a list
    of values; None/"" = no filter). ``symbol`` matches case-insensitively."""
    return BlotterIndex(df).mask(**filters)


def filter_blotter(df: pd.DataFrame, **filters) -> pd.DataFrame:
    return df[filter_mask(df, **filters)].reset_index(drop=True)


def blotter_totals(df: pd.DataFrame) -> pd.DataFrame:
    """Per symbol: shares and dollars bought and sold, net dollars (buys - sells) and accounts."""
    return BlotterIndex(df).totals()


# --------------------------------------------------------------------------- account history
HISTORY_COLUMNS = ["at", "kind", "summary", "user", "detail"]


def _event(at, kind, summary, user="", detail="") -> dict:
    return {"at": at, "kind": kind, "summary": summary, "user": user or "", "detail": detail or ""}


def _fmt_bps(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):,.1f} bps"


def account_history(engine: Engine, account_id: str) -> pd.DataFrame:
    """Everything that happened to ``account_id``, newest first (:data:`HISTORY_COLUMNS`): runs
    (category, score, threshold), decisions and edits (the audit log), trades and the batches
    they went in, manual trades, overrides, suspensions and their resolution, cash requests and
    their status, notes."""
    ev: list[dict] = []
    with engine.connect() as conn:
        for r in conn.execute(select(R.c.finished_at, R.c.started_at, R.c.id, R.c.created_by, P.c.category,
                                     P.c.score_bps, P.c.threshold_bps, P.c.status, P.c.tier, P.c.reasons)
                              .join(P, P.c.run_id == R.c.id).where(P.c.account_id == account_id)):
            ev.append(_event(r.finished_at or r.started_at, "RUN",
                             f"run {r.id}: {r.category} ({r.tier}), score {_fmt_bps(r.score_bps)} vs threshold "
                             f"{_fmt_bps(r.threshold_bps)}, {r.status}", r.created_by, r.reasons))
        au = m.AuditEntry.__table__
        for r in conn.execute(select(au.c.at, au.c.action, au.c.username, au.c.symbol, au.c.detail, au.c.after)
                              .where(au.c.account_id == account_id, au.c.action != "NOTE")):  # notes below
            what = r.action.replace("_", " ").lower()
            ev.append(_event(r.at, r.action, f"{what}{' ' + r.symbol if r.symbol else ''}: {r.detail or ''}".rstrip(": "),
                             r.username, r.after))
        for r in conn.execute(select(T.c.id, T.c.side, T.c.quantity, T.c.symbol, T.c.est_value, T.c.batch_id,
                                     T.c.proposal_id, T.c.created_at, T.c.created_by, T.c.status, B.c.created_at,
                                     B.c.created_by)
                              .join(B, B.c.id == T.c.batch_id, isouter=True)
                              .where(T.c.account_id == account_id,
                                     or_(T.c.batch_id.is_not(None), T.c.proposal_id.is_(None)))):
            line = f"{r.side} {int(r.quantity):,} {r.symbol} (${float(r.est_value or 0):,.2f})"
            if r.proposal_id is None:
                ev.append(_event(r.created_at, "MANUAL_TRADE", f"manual trade {line}, {r.status}", r.created_by))
            if r.batch_id is not None:
                ev.append(_event(r[10], "EXPORTED", f"{line} exported in batch {r.batch_id}", r[11]))
        su = m.Suspension.__table__
        for r in conn.execute(select(su).where(su.c.account_id == account_id)):
            ev.append(_event(r.since, "SUSPENDED", f"suspended {r.code}: {r.detail}"))
            if r.resolved_at is not None:
                ev.append(_event(r.resolved_at, "RESOLVED", f"suspension {r.code} resolved (book snapshot "
                                                            f"{r.resolved_snapshot_id})"))
        cs = m.CashRequestState.__table__
        cr = m.CashRequest.__table__
        amounts = {r.request_id: r for r in conn.execute(select(cr.c.request_id, cr.c.amount, cr.c.due_date,
                                                                cr.c.priority).where(cr.c.account_id == account_id)
                                                         .order_by(cr.c.snapshot_id))}
        states = set()
        for r in conn.execute(select(cs).where(cs.c.account_id == account_id)):
            states.add(r.request_id)
            a = amounts.get(r.request_id)
            money = f" ${float(a.amount):,.2f} due {a.due_date} ({a.priority})" if a is not None else ""
            batch = f", batch {r.batch_id}" if r.batch_id else ""
            ev.append(_event(r.updated_at, "CASH_REQUEST", f"cash request {r.request_id}{money}: {r.status}{batch}",
                             r.updated_by))
        snap = repo.snapshot_info(conn)
        for rid, a in amounts.items():
            if rid not in states and snap is not None:
                ev.append(_event(snap.imported_at, "CASH_REQUEST",
                                 f"cash request {rid} ${float(a.amount):,.2f} due {a.due_date} ({a.priority}): open"))
        ev += _note_events(conn, account_id)
    if not ev:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in HISTORY_COLUMNS})
    df = pd.DataFrame(ev, columns=HISTORY_COLUMNS)
    df["detail"] = df["detail"].map(lambda v: v if isinstance(v, str) else ("" if v is None else json.dumps(v)))
    df["at"] = pd.to_datetime(df["at"])
    return df.sort_values("at", ascending=False, kind="stable").reset_index(drop=True)


def _note_events(conn, account_id: str) -> list[dict]:
    """The account's notes (engine.core.notes)."""
    from engine.core.notes import notes_events

    return notes_events(conn, account_id)


# --------------------------------------------------------------------------- lot detail
LOT_DETAIL_COLUMNS = ["trade_id", "symbol", "lot_id", "quantity", "unit_cost", "acquired_date", "term",
                      "est_price", "est_gain", "est_tax", "wash"]


def trade_lot_detail(engine: Engine, account_id: str, run_id: int | None = None) -> pd.DataFrame:
    """The lots the sells of ``account_id``'s proposal (latest run by default) relieve, one row
    per trade and lot (:data:`LOT_DETAIL_COLUMNS`): shares, unit cost, acquired date, term (ST:
    held a year or less at the book's date), estimated gain at the trade's price, the estimated
    tax at the account's rates (0 for a tax-exempt account; a loss saves tax, negative), and the
    wash-sale status of a loss (``wash: bought DATE`` when the account bought the security within
    30 days before the book's date: the loss is disallowed; ``loss allowed`` otherwise)."""
    with engine.connect() as conn:
        run_id = run_id or _latest_run_id(conn)
        if run_id is None:
            return pd.DataFrame(columns=LOT_DETAIL_COLUMNS)
        sells = read_frame(conn, select(T).join(P, P.c.id == T.c.proposal_id).where(
            P.c.run_id == run_id, P.c.account_id == account_id, T.c.side == "SELL", T.c.status != "REMOVED"))
        if not len(sells):
            return pd.DataFrame(columns=LOT_DETAIL_COLUMNS)
        snap_id = int(sells["snapshot_id"].iloc[0])
        snap = repo.snapshot_info(conn, snap_id)
        acc = conn.execute(select(A.c.taxable, A.c.st_rate, A.c.lt_rate).where(
            A.c.snapshot_id == snap_id, A.c.account_id == account_id)).first()
        tx = m.Transaction.__table__
        buys = read_frame(conn, select(tx.c.symbol, tx.c.trade_date).where(
            tx.c.snapshot_id == snap_id, tx.c.account_id == account_id, tx.c.side == "BUY",
            tx.c.trade_date >= snap.as_of - timedelta(days=WASH_WINDOW_DAYS)))
        from engine.desk.lot_instructions import lot_rows

        rows = []
        for tr in sells.itertuples(index=False):
            one = lot_rows(conn, pd.DataFrame([tr._asdict()]), "")
            if len(one):
                rows.append(one.assign(trade_id=int(tr.id), est_price=float(tr.est_price)))
    if not rows:
        return pd.DataFrame(columns=LOT_DETAIL_COLUMNS)
    df = pd.concat(rows, ignore_index=True)
    taxable = bool(acc.taxable) if acc is not None else False
    st = float(acc.st_rate or 0.0) if acc is not None else 0.0
    lt = float(acc.lt_rate or 0.0) if acc is not None else 0.0
    rate = np.where(df["term"] == "ST", st, lt) if taxable else np.zeros(len(df))
    df["est_tax"] = (df["est_gain"].astype(float) * rate).round(2)
    last_buy = buys.groupby("symbol")["trade_date"].max().to_dict() if len(buys) else {}
    df["wash"] = [("" if g >= 0 else (f"wash: bought {last_buy[s]}" if s in last_buy else "loss allowed"))
                  for g, s in zip(df["est_gain"].astype(float), df["symbol"])]
    return df[LOT_DETAIL_COLUMNS]



# --------------------------------------------------------------------------- dates
def business_date(today: date | None = None) -> date:
    """Today's business date: today, or the Friday before on a weekend (holidays not known)."""
    today = today or date.today()
    return today - timedelta(days=max(0, today.weekday() - 4))


def book_age_warning(as_of, today: date | None = None) -> str:
    """A warning when the book is older than today's business date ('' when it is current)."""
    if as_of is None:
        return ""
    as_of = pd.Timestamp(as_of).date()
    day = business_date(today)
    if as_of >= day:
        return ""
    behind = int(np.busday_count(as_of, day))
    return (f"The book is as of {as_of.isoformat()}, {behind} business day{'s' if behind != 1 else ''} before "
            f"today's business date {day.isoformat()}: import today's book before trading on it.")


def mark_due(urgent: pd.DataFrame, as_of) -> pd.DataFrame:
    """The urgent list sorted by due date (soonest first, none last), with ``due_state``
    (``overdue by N days`` / ``due today`` / ``in N days``) and ``due_alert`` (overdue or today)."""
    df = urgent.copy()
    if "due" not in df or not len(df) or as_of is None:
        return df.assign(due_state="", due_alert=False)
    due = pd.to_datetime(df["due"])
    days = (due - pd.Timestamp(as_of)).dt.days
    df["due_state"] = [("" if pd.isna(d) else "due today" if d == 0 else
                        f"overdue by {-int(d)} day{'s' if d != -1 else ''}" if d < 0 else
                        f"in {int(d)} day{'s' if d != 1 else ''}") for d in days]
    df["due_alert"] = (days <= 0).fillna(False).to_numpy(bool)
    df["due"] = due.dt.date
    return df.assign(_k=due).sort_values("_k", kind="stable", na_position="last").drop(columns="_k") \
        .reset_index(drop=True)


def trade_line_detail(engine: Engine, account_id: str, run_id: int | None = None) -> pd.DataFrame:
    """Per trade of the account's proposal: the security's asset class and its weight in the
    account before and after the proposal's (not removed) trades, as fractions of the account's
    value (``id``, ``asset_class``, ``weight_pre``, ``weight_post``)."""
    cols = ["id", "asset_class", "weight_pre", "weight_post"]
    with engine.connect() as conn:
        run_id = run_id or _latest_run_id(conn)
        if run_id is None:
            return pd.DataFrame(columns=cols)
        prop = conn.execute(select(P.c.id, P.c.value).where(P.c.run_id == run_id, P.c.account_id == account_id)).first()
        if prop is None:
            return pd.DataFrame(columns=cols)
        trades = read_frame(conn, select(T.c.id, T.c.symbol, T.c.side, T.c.quantity, T.c.status, T.c.snapshot_id)
                            .where(T.c.proposal_id == prop.id))
        if not len(trades):
            return pd.DataFrame(columns=cols)
        snap = int(trades["snapshot_id"].iloc[0])
        S, L = m.Security.__table__, m.Lot.__table__
        syms = trades["symbol"].unique().tolist()
        sec = read_frame(conn, select(S.c.symbol, S.c.asset_class, S.c.price).where(S.c.snapshot_id == snap,
                                                                                    S.c.symbol.in_(syms)))
        held = read_frame(conn, select(L.c.symbol, L.c.quantity).where(L.c.snapshot_id == snap,
                                                                       L.c.account_id == account_id,
                                                                       L.c.symbol.in_(syms)))
    value = float(prop.value or 0.0)
    price = dict(zip(sec["symbol"], pd.to_numeric(sec["price"])))
    shares = held.groupby("symbol")["quantity"].sum().to_dict() if len(held) else {}
    live = trades[trades["status"] != "REMOVED"]
    signed = (live["quantity"].astype(float) * np.where(live["side"] == "BUY", 1.0, -1.0)).groupby(live["symbol"]).sum()
    pre = {s: float(shares.get(s, 0.0)) * float(price.get(s) or 0.0) / value if value else np.nan for s in syms}
    post = {s: (float(shares.get(s, 0.0)) + float(signed.get(s, 0.0))) * float(price.get(s) or 0.0) / value
            if value else np.nan for s in syms}
    return pd.DataFrame({"id": trades["id"], "asset_class": trades["symbol"].map(dict(zip(sec["symbol"],
                                                                                            sec["asset_class"]))),
                         "weight_pre": trades["symbol"].map(pre), "weight_post": trades["symbol"].map(post)})


def orders_in_flight(engine: Engine) -> int:
    """Accounts of the latest run held because their orders are in flight (``HELD`` with
    ``PENDING_EXECUTION``: exported against this book, not yet in a newer one) — counted apart
    from client holds."""
    from sqlalchemy import func

    from engine.decide.batch_guard import PENDING

    with engine.connect() as conn:
        run_id = _latest_run_id(conn)
        if run_id is None:
            return 0
        return int(conn.execute(select(func.count()).select_from(P).where(
            P.c.run_id == run_id, P.c.category == "HELD", P.c.reasons.like(f"%{PENDING}%"))).scalar_one())


def account_group(engine: Engine, account_id: str) -> str | None:
    """The account's ``group`` in the latest book (it names the tier instead of the account's
    value), or None."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return None
        g = conn.execute(select(A.c.group_name).where(A.c.snapshot_id == snap.id,
                                                      A.c.account_id == account_id)).scalar()
    return str(g) if g is not None and str(g).strip() else None
