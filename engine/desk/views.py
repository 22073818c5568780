"""Read-only views for the console (and anyone else): what the desk looks at first.

Pure pandas + SQLAlchemy, no Qt. Each function opens one connection, runs a few indexed
queries and returns plain dicts and DataFrames; nothing here writes. They are written to
stay fast on a 100,000-account book: counts come from the run's stored summary, lists are
filtered in SQL (the suspended accounts of a run, proposals awaiting review) rather than
reading every proposal.
"""
from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Integer, and_, cast, func, select

from engine.decide.workflow import CATEGORIES
from engine.desk.change_watch import ChangeWatcher as ChangeWatcher, describe_changes as describe_changes  # noqa: F401
from storage import models as m
from storage import repo

P = m.Proposal.__table__
R = m.Run.__table__
S = m.Suspension.__table__
A = m.Account.__table__
CR = m.CashRequest.__table__
CS = m.CashRequestState.__table__
B = m.ExportBatch.__table__
T = m.Trade.__table__
O = m.Override.__table__
POL = m.Policy.__table__

# reason code -> (short title, what to do about it)
REASONS: dict[str, tuple[str, str]] = {
    "UNKNOWN_SECURITY": ("Unknown security",
                         "Add the security to the security master (securities.csv) or correct the symbol "
                         "in the lots or custodian file, then import the book again."),
    "MISSING_PRICE": ("Missing price",
                      "Get a price for the security from the pricing source and import the book again."),
    "STALE_PRICE": ("Stale price",
                    "Refresh the price (securities.csv price and price_date) and import the book again."),
    "BAD_PRICE": ("Bad price",
                  "The price is zero or negative, above the policy's ceiling, or too far from the "
                  "security's last known price: check it with the pricing source, correct securities.csv "
                  "and import the book again (a real move that large: widen checks.max_price_move in "
                  "the policy)."),
    "RECON_BREAK": ("Lots do not match the custodian",
                    "Reconcile the tax lots with the custodian's share count: look for a missing trade, "
                    "transfer or corporate action in lots.csv."),
    "CORP_ACTION_PENDING": ("Corporate action not processed",
                            "Apply the corporate action to the lots (shares, cost basis, new symbol) and "
                            "mark it processed, then import the book again."),
    "FEED_MISSING": ("Custodian feed missing",
                     "Ask the custodian to resend today's position file; import the book when it arrives."),
    "NEGATIVE_POSITION": ("Negative position",
                          "A lot or a custodian position is below zero: correct the lot, or ask the "
                          "custodian about the short position."),
    "UNKNOWN_TIER": ("Unknown tier",
                     "The account's group (accounts.csv) names no tier of the policy: correct the group "
                     "and import the book again, or add or rename the tier in the policy."),
    "OPTIMIZER_FAILED": ("Optimizer failed",
                         "The optimizer found no valid trades for this account: check its model and "
                         "holdings, or trade it by hand."),
}
URGENT_HELP = ("A high-priority cash request is waiting on this suspended account: raise the cash "
               "with manual trades (Enter manual trades…); they go into the next export.")


def _read(conn, stmt) -> pd.DataFrame:
    """Rows of a select as a DataFrame of object columns (no per-value string inference:
    several times faster than ``read_frame`` for the few thousand rows a view shows)."""
    result = conn.execute(stmt)
    cols = list(result.keys())
    rows = result.fetchall()
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    return pd.DataFrame({c: pd.Series(list(v), dtype=object) for c, v in zip(cols, zip(*rows))})


def reason_title(code: str) -> str:
    return REASONS.get(code, (code.replace("_", " ").capitalize(), ""))[0]


# --------------------------------------------------------------------------- header
def _latest_run(conn) -> dict | None:
    r = conn.execute(select(R.c.id, R.c.snapshot_id, R.c.policy_id, R.c.as_of, R.c.started_at,
                            R.c.finished_at, R.c.created_by, R.c.status, R.c.workers, R.c.summary)
                     .order_by(R.c.id.desc()).limit(1)).mappings().first()
    return None if r is None else dict(r)


def _latest_done_run_id(conn) -> int | None:
    return conn.execute(select(R.c.id).where(R.c.status == "done").order_by(R.c.id.desc()).limit(1)).scalar()


def _status(conn) -> dict:
    snap = repo.snapshot_info(conn)
    run = _latest_run(conn)
    from engine.core.policy_store import latest_saved

    saved = latest_saved(conn)  # a policy a run used from a file is not the current one
    policy = None if saved is None else {"id": saved.id, "created_at": saved.created_at,
                                         "created_by": saved.created_by}
    if run is not None:
        summary = run.pop("summary")
        try:
            run["summary"] = json.loads(summary) if summary else None
        except ValueError:
            run["summary"] = None
        run["stale"] = snap is not None and run["snapshot_id"] != snap.id
        run["policy_label"] = _run_policy_label(conn, run["policy_id"])
    return {
        "snapshot": None if snap is None else {k: getattr(snap, k) for k in (
            "id", "as_of", "imported_at", "imported_by", "source", "n_accounts", "n_lots")},
        "run": run,
        "policy": policy,
    }


def _run_policy_label(conn, policy_id) -> str:
    """How the console names a run's policy: a saved version by its number; else the policy
    row is only a record of the run (the default policy, or one given with ``run --policy``)."""
    from engine.core.policy import default_policy
    from engine.core.policy_store import saved_version_ids

    if policy_id is None:
        return "policy unknown"
    if int(policy_id) in saved_version_ids(conn):
        return f"policy version {policy_id}"
    checksum = conn.execute(select(POL.c.checksum).where(POL.c.id == policy_id)).scalar()
    return "the default policy" if checksum == default_policy().checksum else "a policy from a file (not saved)"


def status(engine: Engine) -> dict:
    """The header: latest book snapshot, latest run (with ``stale`` when a newer book came since)
    and the newest saved policy version. Any of them may be None on a new database."""
    with engine.connect() as conn:
        return _status(conn)


# --------------------------------------------------------------------------- today
def _counts(conn, run: dict | None) -> pd.DataFrame:
    """Accounts per tier (rows) and category (columns) of ``run``, with a Total row and column."""
    if run is None:
        return pd.DataFrame(columns=list(CATEGORIES) + ["Total"], dtype=np.int64)
    tiers = (run.get("summary") or {}).get("tiers")
    if tiers:
        df = pd.DataFrame.from_dict(tiers, orient="index")
    else:  # a run without its summary: count in SQL
        rows = conn.execute(select(P.c.tier, P.c.category, func.count()).where(P.c.run_id == run["id"])
                            .group_by(P.c.tier, P.c.category)).all()
        df = pd.DataFrame(rows, columns=["tier", "category", "n"]).pivot_table(
            index="tier", columns="category", values="n", aggfunc="sum", fill_value=0)
    df = df.reindex(columns=list(CATEGORIES), fill_value=0).fillna(0).astype(np.int64)
    df.index.name = "tier"
    df["Total"] = df.sum(axis=1)
    df.loc["Total"] = df.sum(axis=0)
    return df


def today(engine: Engine, top: int = 20) -> dict:
    """What the desk looks at first, from the latest run.

    Returns ``status`` (see :func:`status`), ``counts`` (tier × category DataFrame with totals),
    ``urgent`` (the largest ``top`` urgent suspended accounts) and ``n_urgent``, ``review`` (the
    largest ``top`` proposals awaiting review) and ``n_review``, ``expiring`` (active overrides
    whose last day is the book date), ``last_batch`` (dict or None), ``waiting_export``
    (approved trades not yet exported), ``n_overrides`` (active overrides) and ``badges``
    (see :func:`badges`). A handful of indexed queries: no full read of the run's proposals.
    """
    with engine.connect() as conn:
        st = _status(conn)
        run = st["run"]
        snap = st["snapshot"]
        done_id = _latest_done_run_id(conn)
        counts = _counts(conn, run if run and run["status"] == "done" else None)
        urgent = pd.DataFrame({"account_id": pd.Series([], dtype=object), "value": pd.Series([], dtype=float),
                               "tier": pd.Series([], dtype=object), "reasons": pd.Series([], dtype=object),
                               "pending_cash": pd.Series([], dtype=float)})
        review = pd.DataFrame({k: pd.Series([], dtype=t) for k, t in (
            ("account_id", object), ("category", object), ("tier", object), ("value", float),
            ("score_bps", float), ("flags", object))})
        n_urgent = n_review = n_suspended = 0
        if done_id is not None:
            run_snap = conn.execute(select(R.c.snapshot_id).where(R.c.id == done_id)).scalar_one()
            susp = and_(P.c.run_id == done_id, P.c.category == "SUSPENDED")
            n_suspended, n_urgent = conn.execute(select(func.count(), func.coalesce(func.sum(
                cast(P.c.urgent, Integer)), 0)).where(susp)).first()
            if n_urgent:
                # an urgent account whose cash-out was entered since the run is no longer urgent
                from engine.book.cash_owed import cash_out_states

                waiting = _read(conn, select(P.c.account_id, P.c.value, P.c.tier, P.c.reasons).where(
                    susp, P.c.urgent.is_(True)).order_by(P.c.value.desc()))
                outs = cash_out_states(conn, run_snap, waiting[["account_id", "value"]])
                covered = set(outs.index[outs["covered"].to_numpy(bool)]) if len(outs) else set()
                waiting = waiting[~waiting["account_id"].isin(covered)].reset_index(drop=True)
                n_urgent = len(waiting)
            if top:
                urgent = waiting.head(top).copy() if n_urgent else _read(conn, select(
                    P.c.account_id, P.c.value, P.c.tier, P.c.reasons).where(P.c.id < 0))
                urgent["reasons"] = urgent["reasons"].map(_codes)
                cash = _pending_cash(conn, run_snap, list(urgent["account_id"]))
                urgent["pending_cash"] = urgent["account_id"].map(cash["amount"]).astype(float)
                urgent["due"] = urgent["account_id"].map(cash["due"])  # the next cash request's due date
            trading = and_(P.c.run_id == done_id, P.c.category.in_(["MANDATE", "SCORE"]), P.c.status == "PROPOSED")
            if top:  # one pass over the run's trading proposals: the count and the largest few
                rows = _read(conn, select(P.c.account_id, P.c.category, P.c.tier, P.c.value, P.c.score_bps,
                                          P.c.flags, func.count().over().label("n"))
                             .where(trading).order_by(P.c.value.desc()).limit(top))
                n_review = int(rows["n"].iat[0]) if len(rows) else 0
                if len(rows):
                    review = rows.drop(columns="n")
            else:
                n_review = conn.execute(select(func.count()).select_from(P).where(trading)).scalar_one()
        expiring = _expiring(conn, snap["as_of"] if snap else None)
        n_overrides = 0
        if snap is not None:
            n_overrides = conn.execute(select(func.count()).select_from(O).where(
                O.c.ended_at.is_(None), (O.c.until.is_(None)) | (O.c.until >= snap["as_of"]))).scalar_one()
        batch = conn.execute(select(B.c.id, B.c.created_at, B.c.created_by, B.c.n_trades, B.c.n_accounts,
                                    B.c.out_dir).where(B.c.n_trades > 0)
                             .order_by(B.c.created_at.desc()).limit(1)).mappings().first()
        from engine.desk.exporter import blocked_now, exportable

        waiting = conn.execute(select(func.count()).select_from(T).where(exportable(conn))).scalar_one()
        n_blocked = len(blocked_now(conn)) if waiting else 0
        waiting -= n_blocked  # blocked trades are not what an export sends: shown as blocked
    badges = {"Overrides": (int(n_overrides), False), "Batches": (int(waiting), False)}
    if done_id is not None:
        badges.update({"Today": (int(n_urgent), True), "Suspended": (int(n_suspended), int(n_urgent) > 0),
                       "Proposals": (int(n_review), False)})
    return {"status": st, "counts": counts, "urgent": urgent, "n_urgent": int(n_urgent),
            "review": review, "n_review": int(n_review), "expiring": expiring,
            "last_batch": None if batch is None else dict(batch), "waiting_export": {"trades": int(waiting), "blocked": int(n_blocked)},
            "n_overrides": int(n_overrides), "badges": badges}


def _expiring(conn, as_of: date | None) -> pd.DataFrame:
    cols = [O.c.id, O.c.kind, O.c.account_id, O.c.symbol, O.c.mode, O.c.until, O.c.reason, O.c.created_by]
    if as_of is None:
        return _read(conn, select(*cols).where(O.c.id < 0))
    return _read(conn, select(*cols).where(O.c.ended_at.is_(None), O.c.until == as_of).order_by(O.c.id))


def _codes(reasons) -> str:
    if not isinstance(reasons, str):
        return ""
    return "; ".join(c.split(":", 1)[0] for c in reasons.split(";") if c and c != "URGENT")


def _pending_cash(conn, snapshot_id: int | None, accounts: list[str] | None = None) -> pd.DataFrame:
    """Listed cash requests not yet sent (their cash not yet raised) per account: amount, next
    due date, any high priority."""
    empty = pd.DataFrame({"amount": pd.Series([], dtype=float), "due": pd.Series([], dtype=object),
                          "high": pd.Series([], dtype=bool)})
    if snapshot_id is None or accounts is not None and not accounts:
        return empty
    stmt = (select(CR.c.account_id, CR.c.amount, CR.c.due_date, CR.c.priority, CS.c.status)
            .select_from(CR.outerjoin(CS, CS.c.request_id == CR.c.request_id))
            .where(CR.c.snapshot_id == snapshot_id))
    if accounts is not None and len(accounts) <= 500:
        stmt = stmt.where(CR.c.account_id.in_(accounts))
    req = _read(conn, stmt)
    if not len(req):
        return empty
    req = req[req["status"].isna().to_numpy() | (req["status"] != "sent").to_numpy()]
    if accounts is not None:
        req = req[req["account_id"].isin(accounts)]
    acc = req["account_id"]
    return pd.DataFrame({"amount": req["amount"].astype(float).groupby(acc).sum(),
                         "due": pd.to_datetime(req["due_date"]).groupby(acc).min(),
                         "high": (req["priority"] == "high").groupby(acc).any()})


# --------------------------------------------------------------------------- suspended
SUSPENDED_COLUMNS = ["account_id", "name", "custodian", "value", "tier", "reasons", "detail", "since", "urgent",
                     "pending_cash", "due", "high", "cash_out", "tier_basis", "household_id"]


def suspended_accounts(engine: Engine, run_id: int | None = None) -> pd.DataFrame:
    """The suspended accounts of the latest (or given) run, urgent first then by value.

    One row per account: account_id, name, custodian, value, tier, reasons (codes, ``; ``-joined),
    detail (each reason's detail, `` | ``-joined, e.g. ``RECON_BREAK: AAA: lots hold 100,
    custodian 200``), since (when the oldest open suspension began), urgent, pending_cash (cash
    requests not yet sent), due (the next due date), high (a high-priority request is among
    them), cash_out (where its listed requests stand, see :func:`engine.book.cash_owed.cash_out_states`:
    an account whose requests are covered by trades entered for it is not urgent) and tier_basis
    (how holdings without a usable price were valued for its tier).
    """
    from engine.book.cash_owed import cash_out_states

    with engine.connect() as conn:
        run_id = run_id or _latest_done_run_id(conn)
        if run_id is None:
            return _empty_suspended()
        snap_id = conn.execute(select(R.c.snapshot_id).where(R.c.id == run_id)).scalar_one()
        df = _read(conn, select(P.c.account_id, A.c.name, A.c.custodian, P.c.value, P.c.tier, P.c.reasons,
                                     P.c.urgent, P.c.tier_basis, A.c.household_id)
                        .select_from(P.join(A, and_(A.c.snapshot_id == snap_id, A.c.account_id == P.c.account_id)))
                        .where(P.c.run_id == run_id, P.c.category == "SUSPENDED"))
        if not len(df):
            return _empty_suspended()
        sus = _read(conn, select(S.c.account_id, S.c.code, S.c.detail, S.c.since)
                         .where(S.c.resolved_at.is_(None)).order_by(S.c.account_id, S.c.id))
        cash = _pending_cash(conn, snap_id, None)
        outs = cash_out_states(conn, snap_id, df[["account_id", "value"]])
    accounts = set(df["account_id"])
    sus = sus[sus["account_id"].isin(accounts)]
    joined: dict[str, list[str]] = {}
    for a, code, d in zip(sus["account_id"].tolist(), sus["code"].tolist(), sus["detail"].tolist()):
        joined.setdefault(a, []).append(f"{code}: {d or ''}")
    since = pd.to_datetime(sus["since"]).groupby(sus["account_id"]).min()
    df["reasons"] = df["reasons"].map(_codes)
    details = [" | ".join(joined.get(a, ())) for a in df["account_id"].tolist()]
    # reasons the suspension table does not hold (OPTIMIZER_FAILED: ...) keep their text
    df["detail"] = [d + (" | " if d else "") + "OPTIMIZER_FAILED: no valid solution" if "OPTIMIZER_FAILED" in r else d
                    for d, r in zip(details, df["reasons"].tolist())]
    df["since"] = df["account_id"].map(since)
    df["urgent"] = df["urgent"].astype(bool)
    df["value"] = df["value"].astype(float)
    df["pending_cash"] = df["account_id"].map(cash["amount"]).fillna(0.0).astype(float)
    df["due"] = pd.to_datetime(df["account_id"].map(cash["due"]))
    df["high"] = df["account_id"].map(cash["high"]).fillna(False).astype(bool)
    words, covered = dict(outs["cash_out"]), dict(outs["covered"])
    df["cash_out"] = pd.Series([words.get(a, "") for a in df["account_id"].tolist()], dtype=object, index=df.index)
    # a cash-out entered (or the cash held) is no longer urgent
    df["urgent"] = df["urgent"] & ~np.array([bool(covered.get(a, False)) for a in df["account_id"].tolist()], bool)
    df = df.sort_values(["urgent", "value"], ascending=[False, False], kind="stable").reset_index(drop=True)
    return df[SUSPENDED_COLUMNS]


def _empty_suspended() -> pd.DataFrame:
    return pd.DataFrame({"account_id": pd.Series([], dtype=object), "name": pd.Series([], dtype=object),
                         "custodian": pd.Series([], dtype=object), "value": pd.Series([], dtype=float),
                         "tier": pd.Series([], dtype=object), "reasons": pd.Series([], dtype=object),
                         "detail": pd.Series([], dtype=object), "since": pd.Series([], dtype="datetime64[us]"),
                         "urgent": pd.Series([], dtype=bool), "pending_cash": pd.Series([], dtype=float),
                         "due": pd.Series([], dtype="datetime64[us]"), "high": pd.Series([], dtype=bool),
                         "cash_out": pd.Series([], dtype=object), "tier_basis": pd.Series([], dtype=object),
                         "household_id": pd.Series([], dtype=object)})


def account_reasons(engine: Engine, account_id: str) -> dict:
    """Everything the Suspended panel shows about one account: its open suspensions in words
    (``reasons``: list of dicts code, title, details (list of str), action, since), its listed
    cash requests (DataFrame: request_id, amount, due_date, priority, note, status — ``sent``
    ones keep their cash reserved until a newer book no longer lists them), ``reserved`` (the
    dollars of the owed requests: due within the cash horizon, or raised) and ``tier_basis`` (how holdings
    without a usable price were valued for its tier in the latest run)."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        sus = _read(conn, select(S.c.code, S.c.detail, S.c.since).where(
            S.c.account_id == account_id, S.c.resolved_at.is_(None)).order_by(S.c.id))
        req = _read(conn, select(CR.c.request_id, CR.c.amount, CR.c.due_date, CR.c.priority, CR.c.note,
                                      CS.c.status)
                         .select_from(CR.outerjoin(CS, CS.c.request_id == CR.c.request_id))
                         .where(CR.c.snapshot_id == (snap.id if snap else -1), CR.c.account_id == account_id)
                         .order_by(CR.c.due_date))
        acc = conn.execute(select(A.c.account_id, A.c.name, A.c.model_id, A.c.custodian, A.c.cash, A.c.taxable)
                           .where(A.c.snapshot_id == (snap.id if snap else -1), A.c.account_id == account_id)
                           ).mappings().first()
        from engine.core.policy_store import current_policy

        horizon = current_policy(conn).mandates.cash_horizon_days
        run_id = _latest_done_run_id(conn)
        basis = None if run_id is None else conn.execute(select(P.c.tier_basis).where(
            P.c.run_id == run_id, P.c.account_id == account_id)).scalar()
    reasons = []
    for code, detail, since in sus.itertuples(index=False):
        title, action = REASONS.get(code, (reason_title(code), ""))
        reasons.append({"code": code, "title": title, "since": since, "action": action,
                        "details": [d.strip() for d in str(detail or "").split("; ") if d.strip()]})
    reserved = 0.0
    if len(req) and snap is not None:
        from engine.book.cash_owed import owed_mask, with_status

        states = dict(zip(req["request_id"], req["status"]))
        req["status"] = with_status(req, states).to_numpy(object)
        reserved = float(req["amount"].astype(float)[owed_mask(req, states, snap.as_of, horizon)].sum())
    return {"account": None if acc is None else dict(acc), "reasons": reasons, "requests": req,
            "reserved": reserved, "tier_basis": basis}


# --------------------------------------------------------------------------- badges
def badges(engine: Engine) -> dict[str, tuple[int, bool]]:
    """Navigation badges: panel name -> (count, urgent): Today (urgent suspended accounts),
    Suspended, Overrides (active), Proposals (awaiting review), Batches (approved trades not
    yet exported). Panels without a count are absent."""
    return today(engine, top=0)["badges"]


# --------------------------------------------------------------------------- pickers
def book_ids(engine: Engine) -> dict:
    """The latest book's account ids and symbols (for completers): {"snapshot_id", "accounts", "symbols"}."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return {"snapshot_id": None, "accounts": [], "symbols": []}
        accounts = [r[0] for r in conn.execute(select(A.c.account_id).where(A.c.snapshot_id == snap.id)
                                               .order_by(A.c.account_id))]
        sec = m.Security.__table__
        symbols = [r[0] for r in conn.execute(select(sec.c.symbol).where(sec.c.snapshot_id == snap.id)
                                              .order_by(sec.c.symbol))]
    return {"snapshot_id": snap.id, "accounts": accounts, "symbols": symbols}


def book_custodians(engine: Engine) -> list[str]:
    """The latest book's custodians, sorted (for the export settings per custodian)."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return []
        return [r[0] for r in conn.execute(select(A.c.custodian).where(A.c.snapshot_id == snap.id)
                                           .distinct().order_by(A.c.custodian))]


def overrides(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(active, history) overrides on the latest book date, each with a ``target`` (account or
    symbol) and ``state`` (active / ended early / expired) column; newest first."""
    from engine.decide.overrides import overrides_frame

    df = overrides_frame(engine)
    if not len(df):
        df = df.assign(target=pd.Series([], dtype=object), state=pd.Series([], dtype=object))
        return df, df.copy()
    df = df.copy()
    df["target"] = df["account_id"].where(df["kind"] == "HOLD", df["symbol"])
    df["state"] = np.where(df["active"], "active", np.where(df["ended_at"].notna(), "ended early", "expired"))
    df["mode"] = df["mode"].where(df["kind"] == "HALT", "")
    df = df.sort_values("id", ascending=False, kind="stable")
    return df[df["active"]].reset_index(drop=True), df[~df["active"]].reset_index(drop=True)


def policy_body(engine: Engine, policy_id: int):
    """The saved policy version ``policy_id`` as a Policy."""
    from engine.core.policy import policy_from_toml

    with engine.connect() as conn:
        body = conn.execute(select(POL.c.body).where(POL.c.id == policy_id)).scalar()
    if body is None:
        from engine.core.tasks import RefusedError

        raise RefusedError(f"policy version {policy_id} does not exist")
    return policy_from_toml(body, f"policy version {policy_id}")
