"""Re-score an edited proposal: the numbers a reviewer approves describe the trades in it.

The account's optimizer input is rebuilt from the run's book snapshot and the run's policy
(:func:`account_input`, the same :class:`~engine.decide.workflow.InputBuilder` the run uses, over that
one account's rows and its household's, so the household's wash-sale blocks are those of the run), and the proposal's remaining trades are scored by
:func:`engine.decide.optimizer.score_trades` — the score code of the run itself. The score and its
parts, turnover, realized tax, tracking error after, outlier flags, class weights after and the
band statement are stored on the proposal (:func:`rescore_proposal`).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import select, update

from engine.decide.household_books import household_last_good, household_members
from engine.decide.household_location import PREFIX, relocate
from engine.decide.optimizer import AccountInput, AccountResult, OptimizerSettings, score_trades
from engine.core.policy import Policy, policy_from_toml
from engine.core.tasks import RefusedError
from storage import models as m
from storage import compact_detail
from storage import repo
from storage.bulk import read_frame

P = m.Proposal.__table__
T = m.Trade.__table__
ACCOUNT_TABLES = ("accounts", "lots", "transactions", "cash_requests")
SCORE_COLUMNS = ("score", "score_bps", "drift_benefit", "harvest_benefit", "rating_benefit", "trading_cost",
                 "tax_cost", "te_pre", "te_post", "turnover", "realized_tax")


def outlier_flags(r: AccountResult, policy: Policy) -> list[str]:
    """The outlier flags of a scored proposal (what sends it to review under ``outliers``)."""
    out = policy.outliers
    v = max(r.value, 1e-9)
    f = []
    if r.turnover * 100 > out.max_turnover_pct:
        f.append("TURNOVER")
    if r.realized_tax / v * 100 > out.max_realized_tax_pct:
        f.append("TAX")
    if r.te_post > out.max_te_post:
        f.append("TRACKING_ERROR")
    if r.largest_trade / v * 100 > out.max_single_trade_pct:
        f.append("LARGE_TRADE")
    if r.trades and r.budget.get("over_budget", 0.0) > 0.5:  # engine/decide/gains_budget.py
        f.append("OVER_BUDGET")
    return f


def band_statement(post: dict, bands: dict) -> str:
    """Which asset classes are outside their band after the trades, in words."""
    out = []
    for cls, band in sorted((bands or {}).items()):
        lo, hi = float(band[0]), float(band[1])
        w = float((post or {}).get(cls, 0.0))
        if w < lo - 1e-9 or w > hi + 1e-9:
            out.append(f"{cls} {w:.1%} outside {lo:.1%}–{hi:.1%}")
    return ("Outside its band after the trades: " + ", ".join(out)) if out else \
        "Every asset class is inside its band after the trades."


def run_policy(conn, run_id: int) -> Policy:
    r, pol = m.Run.__table__, m.Policy.__table__
    row = conn.execute(select(pol.c.id, pol.c.body).select_from(r.join(pol, pol.c.id == r.c.policy_id))
                       .where(r.c.id == run_id)).first()
    if row is None:
        raise RefusedError(f"run {run_id} has no stored policy")
    return policy_from_toml(row[1], f"policy version {row[0]}")


def _account_frames(conn, snapshot_id: int, account_id: str | list[str]) -> dict[str, pd.DataFrame]:
    """The book frames of one snapshot restricted to one account or a list of accounts
    (securities and models whole)."""
    ids = [account_id] if isinstance(account_id, str) else list(account_id)
    out = {}
    for name in repo.BOOK_TABLES:
        t = repo.TABLES[name]
        cols = [c for c in t.c if c.name not in ("snapshot_id", "id")]
        stmt = select(*cols).where(t.c.snapshot_id == snapshot_id)
        if name in ACCOUNT_TABLES:
            stmt = stmt.where(t.c.account_id.in_(ids))
        elif name not in ("securities", "model_weights"):
            stmt = stmt.where(t.c.snapshot_id == -1)  # not needed: an empty frame of the right shape
        out[name] = repo.fast_frame(conn, stmt, cols, name)
    return out


def account_input(conn, run_id: int, account_id: str, detail: dict | None = None
                  ) -> tuple[AccountInput, OptimizerSettings, Policy, dict]:
    """The optimizer input the run built for ``account_id`` (rebuilt from the run's snapshot and
    policy; the freezes and cash need the run recorded in the proposal's detail), its settings,
    the run's policy and the account's class bands."""
    from engine.core.frames import holdings
    from engine.decide.mandates import account_facts
    from engine.decide.inputs import InputBuilder, optimizer_settings

    r = m.Run.__table__
    run = conn.execute(select(r.c.snapshot_id, r.c.as_of).where(r.c.id == run_id)).first()
    if run is None:
        raise RefusedError(f"run {run_id} does not exist")
    policy = run_policy(conn, run_id)
    # the household's members too: their trades in the wash-sale window block this account's buys
    # and loss sales as they did in the run (engine.decide.household_wash)
    members = household_members(conn, run.snapshot_id, account_id)
    frames = _account_frames(conn, run.snapshot_id, members)
    if not (frames["accounts"]["account_id"] == account_id).any():
        raise RefusedError(f"account {account_id} is not in the book of run {run_id}")
    suspended: set[str] = set()
    if len(members) > 1:
        frames["household_last_good"] = household_last_good(conn, run.snapshot_id, frames["accounts"])
        suspended = set(conn.execute(select(P.c.account_id).where(
            P.c.run_id == run_id, P.c.account_id.in_(members[1:]), P.c.category == "SUSPENDED")).scalars())
    detail = detail or {}
    facts, extras = account_facts(frames, run.as_of, policy, None, holdings(frames["lots"]))
    located = ((detail.get("household") or {}).get("location") or {}).get("located_class_targets")
    if located:  # household optimization: scored against the located model, bands of its own model
        frames = relocate(frames, account_id, located)
        facts["model_id"] = np.where(facts["account_id"] == account_id, PREFIX + account_id, facts["model_id"])
    if "cash_needed" in detail:  # what the run counted (requests handled since are not re-added)
        facts.loc[facts["account_id"] == account_id, "cash_needed"] = float(detail["cash_needed"])
    builder = InputBuilder(frames, facts, extras, run.as_of, policy, set(detail.get("frozen", [])),
                           suspended=suspended)
    return builder.build(account_id), optimizer_settings(policy), policy, builder.bands.get(account_id, {})


def score_lines(trades: pd.DataFrame) -> list[tuple]:
    """Order lines for :func:`~engine.decide.optimizer.score_trades` from rows of the trades table."""
    out = []
    for sym, side, q, lots in zip(trades["symbol"], trades["side"], trades["quantity"], trades["lots"]):
        named = tuple((p.split(":")[0], int(p.split(":")[1])) for p in str(lots).split(";") if ":" in p) \
            if isinstance(lots, str) and lots else ()
        out.append((str(sym), str(side), int(q), named))
    return out


def rescore_proposal(conn, proposal_id: int) -> tuple[dict, dict]:
    """Score the proposal's live (not removed) trades and store the numbers on it; returns the
    stored numbers before and after (for the audit). The caller owns the transaction."""
    prop = conn.execute(select(P).where(P.c.id == proposal_id)).mappings().first()
    detail = json.loads(compact_detail.text_of(conn, prop) or "{}")
    inp, settings, policy, bands = account_input(conn, prop["run_id"], prop["account_id"], detail)
    trades = read_frame(conn, select(T.c.symbol, T.c.side, T.c.quantity, T.c.lots).where(
        T.c.proposal_id == proposal_id, T.c.status != "REMOVED"))
    try:
        res = score_trades(inp, settings, score_lines(trades))
    except ValueError as exc:
        raise RefusedError(f"{prop['account_id']}: the edited trades cannot be scored ({exc})") from None
    flags = outlier_flags(res, policy)
    new_detail = {**detail, "class_weights_post": res.class_weights_post, "cash_post": res.cash_post,
                  "cash_required": res.cash_required, "cash_shortfall": res.cash_shortfall,
                  "band_statement": band_statement(res.class_weights_post, detail.get("class_bands", bands))}
    after = {k: float(getattr(res, k)) for k in SCORE_COLUMNS}
    after["flags"] = ";".join(flags)
    before = {k: prop[k] for k in SCORE_COLUMNS}
    before["flags"] = prop["flags"] or ""
    before["class_weights_post"] = detail.get("class_weights_post")
    before["band_statement"] = detail.get("band_statement")
    conn.execute(update(P).where(P.c.id == proposal_id).values(**after, detail=json.dumps(new_detail)))
    after["class_weights_post"] = res.class_weights_post
    after["band_statement"] = new_detail["band_statement"]
    return before, after
