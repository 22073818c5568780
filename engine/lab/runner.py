"""The policy lab: carry a book forward under several variants, side by side on the same prices.

    book = load_book(engine)                      # read once; the database is never written
    variants = build_variants(book.policy, baselines=["band", "calendar"], sweeps=["threshold=0.5,2"])
    result = simulate(book, variants, days=60, seed=7, state=state)
    result.summary, result.daily                  # one row per variant; per variant and day

An engine variant decides each day with :func:`engine.decide.workflow.decide` — the run's own checks,
overrides, mandates, optimizer, score and routing — on the carried book; proposals that need
review count as approved (``reject_share`` rejects that share of them at random). Baselines are
in :mod:`engine.lab.baselines`. The simulated custodian (:mod:`engine.lab.custodian`) executes,
and one :class:`~engine.lab.metrics.Ledger` per variant accounts. Progress and cancel go through
:class:`engine.core.tasks.TaskState`: progress per variant and day, cancel checked every day (and
inside the optimizer), and nothing is written anywhere on cancel.
"""
from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from engine.decide.executors import open_executor
from engine.lab.baselines import baseline_day
from engine.lab.cash_flow_check import COLUMNS as CASH_FLOW_COLUMNS, check_day as check_cash_flow
from engine.lab.custodian import Custodian
from engine.lab.market import PricePath, factor_path, replay_path
from engine.lab.metrics import Ledger
from engine.lab.variants import (BASELINES as BASELINES, SWEEPS as SWEEPS, Variant as Variant,  # re-exported
                                 build_variants as build_variants, sweep_variants as sweep_variants)
from engine.decide.overrides import overrides_in_force
from engine.core.policy import Policy
from engine.core.tasks import RefusedError, TaskState, ensure_state

@dataclass
class LabBook:
    """A book read once from the database (or built by hand): frames as read_book_frames gives
    them, its as_of, the overrides frame (engine.decide.overrides.overrides_frame) and the current policy."""
    frames: dict[str, pd.DataFrame]
    as_of: date
    policy: Policy
    overrides: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class LabResult:
    summary: pd.DataFrame
    daily: pd.DataFrame
    ledgers: dict[str, Ledger]
    books: dict[str, dict[str, pd.DataFrame]]  # each variant's book after the last day
    last_date: date
    variants: list[Variant]
    # the engine variants' cash-flow accounts that traded, per day, checked against their cash
    # need (engine.lab.cash_flow_check.check_day; a column ``variant``): ``excess`` > 0 breaks the rule
    cash_flow: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_book(engine) -> LabBook:
    """Read the latest snapshot, its overrides and the current policy: reads only."""
    from engine.decide.overrides import overrides_frame
    from engine.core.policy_store import current_policy
    from storage import repo

    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            raise RefusedError("no book imported yet: run `import DIR` first")
        frames = repo.read_book_frames(conn, snap.id)
        ov = overrides_frame(conn, snap.as_of)
        policy = current_policy(conn)
    return LabBook(frames, snap.as_of, policy, ov)


# --------------------------------------------------------------------------- cash requests
def request_arrivals(frames, dates: list[date], rate: float, seed: int) -> pd.DataFrame:
    """New cash requests, the same for every variant: each account, each day after day 1, asks
    with probability ``rate`` for 2-8 % of its day-1 value, due 5-15 business days later,
    high priority one time in five."""
    cols = ["day", "request_id", "account_id", "amount", "due_date", "priority", "note"]
    if rate <= 0 or len(dates) < 2:
        return pd.DataFrame(columns=cols)
    acc = frames["accounts"]["account_id"].to_numpy(object)
    value = Custodian(frames, dates[0], cost_bps=0, ticket_cost=0).values()
    rng = np.random.default_rng([seed, 15])
    rows = []
    for k in range(1, len(dates)):
        hit = np.flatnonzero(rng.random(len(acc)) < rate)
        frac = rng.uniform(0.02, 0.08, len(hit))
        lag = rng.integers(5, 16, len(hit))
        high = rng.random(len(hit)) < 0.2
        for j, i in enumerate(hit):
            amount = round(float(value[i] * frac[j]), -2)
            if amount <= 0:
                continue
            due = (pd.Timestamp(dates[k]) + pd.offsets.BDay(int(lag[j]))).date().isoformat()
            rows.append((k, f"SIM{k:03d}-{i:06d}", acc[i], amount, due, "high" if high[j] else "normal",
                         "simulated request"))
    return pd.DataFrame.from_records(rows, columns=cols)


# --------------------------------------------------------------------------- the simulation
class _Sub(TaskState):
    """A task state for one step: progress scaled into [lo, hi] of the parent, the parent's cancel."""

    def __init__(self, parent: TaskState, lo: float, hi: float, label: str):
        super().__init__()
        self.parent, self.lo, self.hi, self.label = parent, lo, hi, label

    def progress(self, fraction: float, message: str = "") -> None:
        self.parent.progress(self.lo + (self.hi - self.lo) * max(0.0, min(1.0, fraction)),
                             f"{self.label}: {message}" if message else self.label)

    @property
    def cancelled(self) -> bool:
        return self.parent.cancelled

    def check(self) -> None:
        self.parent.check()


def price_path(book: LabBook, days: int, *, seed: int = 1, prices: str | Path | None = None) -> PricePath:
    sec = book.frames["securities"]
    if prices:
        return replay_path(prices, sec, book.as_of, days)
    return factor_path(sec, book.as_of, days, seed)


def simulate(book: LabBook, variants: list[Variant], days: int, *, seed: int = 1,
             prices: str | Path | PricePath | None = None, request_rate: float = 0.0005,
             reject_share: float = 0.0, workers: int = 1, executor: Executor | str | None = None,
             state: TaskState | None = None) -> LabResult:
    """Carry ``book`` forward ``days`` business days (day 1 = the book's as_of) under each variant."""
    state = ensure_state(state)
    if days < 1:
        raise RefusedError(f"--days {days}: simulate at least one day")
    if not 0.0 <= reject_share <= 1.0:
        raise RefusedError(f"--reject {reject_share}: a share between 0 and 1")
    path = prices if isinstance(prices, PricePath) else price_path(book, days, seed=seed, prices=prices)
    arrivals = request_arrivals(book.frames, path.dates, request_rate, seed)
    ledgers, books, flows = {}, {}, []
    with open_executor(executor, workers=workers) as choice:
        for vi, v in enumerate(variants):
            ledger, frames, flow = _run_variant(book, v, path, arrivals, reject_share, seed, choice.workers or 1,
                                                choice.executor, state, vi, len(variants))
            ledgers[v.name], books[v.name] = ledger, frames
            flows += [f.assign(variant=v.name) for f in flow if len(f)]
    state.progress(1.0, "simulation done")
    rows = [{"variant": v.name, "kind": v.kind, **ledgers[v.name].summary()} for v in variants]
    summary = pd.DataFrame(rows)
    band = summary[summary["kind"] == "band"]
    if len(band):
        b = band.iloc[0]
        summary["after_tax_vs_band_bps"] = ((summary["after_tax_wealth"] - b["after_tax_wealth"])
                                            / b["value_start"] * 1e4).round(2)
        summary["after_tax_deferred_vs_band_bps"] = ((summary["after_tax_wealth_deferred"]
                                                      - b["after_tax_wealth_deferred"]) / b["value_start"] * 1e4).round(2)
        summary["after_tax_ex_market_vs_band_bps"] = ((summary["after_tax_wealth_ex_market"]
                                                       - b["after_tax_wealth_ex_market"]) / b["value_start"] * 1e4).round(2)
    daily = pd.concat([pd.DataFrame(ledgers[v.name].daily).assign(variant=v.name) for v in variants],
                      ignore_index=True)
    daily = daily[["variant"] + [c for c in daily.columns if c != "variant"]]
    cash_flow = pd.concat(flows, ignore_index=True) if flows else pd.DataFrame(columns=["variant", *CASH_FLOW_COLUMNS])
    return LabResult(summary, daily, ledgers, books, path.dates[-1], variants, cash_flow)


def _run_variant(book, v: Variant, path: PricePath, arrivals, reject_share, seed, workers, executor,
                 state: TaskState, vi: int, nv: int):
    from engine.decide.workflow import decide

    t = v.policy.trading
    cust = Custodian(book.frames, book.as_of, cost_bps=t.cost_bps, ticket_cost=t.ticket_cost,
                     strict_wash=v.kind == "engine", wash_days=t.wash_sale_days)
    ledger = Ledger(book.frames, book.as_of, book.policy)
    n = len(path.dates)
    flow = []
    for k, day in enumerate(path.dates):
        state.check()
        lo, hi = (vi * n + k) / (nv * n), (vi * n + k + 1) / (nv * n)
        label = f"{v.name}: day {k + 1}/{n} ({day})"
        state.progress(lo, label)
        start = cust.values()
        p0, f0 = cust.price.copy(), cust.split_factor.copy()
        move = cust.mark(day, path.prices[k], path.moving)
        with np.errstate(invalid="ignore", divide="ignore"):  # each security's return as held, splits included
            held_r = np.where(np.isfinite(p0) & (p0 > 0), cust.price * cust.split_factor / (p0 * f0) - 1.0, 0.0)
        held_r = np.where(np.isfinite(held_r), held_r, 0.0)
        new = arrivals[arrivals["day"] == k] if len(arrivals) else arrivals
        if len(new):
            cust.add_requests(new.drop(columns="day"))
        ov = overrides_in_force(book.overrides, day)
        if v.kind == "engine":
            d = decide(cust.frames, day, v.policy, overrides=ov, exported=set(), workers=workers,
                       executor=executor, state=_Sub(state, lo, hi, label))
            p = d.proposals
            go = p["category"].isin(["MANDATE", "SCORE"]).to_numpy(bool)
            if reject_share > 0:
                rng = np.random.default_rng([seed, vi, k])
                reviewed = (p["status"] == "PROPOSED").to_numpy(bool)
                go &= ~(reviewed & (rng.random(len(p)) < reject_share))
            trades = {a: d.results[a].trades for a in p["account_id"].to_numpy(object)[go]}
            flagged = p["reasons"].astype(str).str.contains("BAND_UNREACHABLE", regex=False).to_numpy(bool)
            excused = set(p["account_id"].to_numpy(object)[p["category"].isin(["SUSPENDED", "HELD"]).to_numpy(bool)
                                                          | flagged])
            # suspended for bad data (an optimizer failure is the engine's, not the data's)
            suspended = set(p["account_id"].to_numpy(object)[(p["category"] == "SUSPENDED").to_numpy(bool)
                                                             & ~p["reasons"].astype(str).str.contains(
                                                                 "OPTIMIZER_FAILED", regex=False).to_numpy(bool)])
            held = set(ov.holds)  # held by an override (the same accounts for every variant)
        else:
            trades, excused = baseline_day(v.kind, cust.frames, day, k, v.policy, holds=set(ov.holds))
            held = excused & set(ov.holds)
            suspended = excused - held
        seen = {k_: cust.frames[k_] for k_ in ("cash_requests", "lots", "securities", "model_weights")}
        seen["accounts"] = cust.frames["accounts"].copy()  # execute moves cash in place
        ex, costs = cust.execute(trades)
        if v.kind == "engine":
            flow.append(check_cash_flow(seen, day, ex, cost_bps=t.cost_bps, ticket_cost=t.ticket_cost,
                                        horizon_days=v.policy.mandates.cash_horizon_days))
        paid = cust.pay_requests()
        payouts = np.zeros(len(cust.account_ids))
        if len(paid):
            np.add.at(payouts, cust.acc_pos[paid["account_id"]].to_numpy(np.int64), paid["amount"].to_numpy(float))
        cust.check_value(start, move, costs, payouts)
        ledger.record(day, start, move, costs, payouts, ex, paid, cust.frames["lots"],
                      cust.frames["accounts"]["cash"].to_numpy(float), cust.price, path.returns(k),
                      excused=np.isin(ledger.ids, list(excused)), owed=_owed(cust, day, v.policy),
                      suspended=np.isin(ledger.ids, list(suspended)), held=np.isin(ledger.ids, list(held)),
                      held_returns=held_r)
    ledger.finish(cust.frames["lots"], cust.price, cust.frames["cash_requests"])
    return ledger, cust.frames, flow


def _owed(cust: Custodian, day: date, policy: Policy) -> np.ndarray:
    """Dollars per account of the listed cash requests due within the policy's cash horizon."""
    cr = cust.frames["cash_requests"]
    out = np.zeros(len(cust.account_ids))
    if len(cr):
        horizon = (day + timedelta(days=policy.mandates.cash_horizon_days)).isoformat()
        due = cr[cr["due_date"].astype(object) <= horizon]
        pos = cust.acc_pos.reindex(due["account_id"]).to_numpy(float)
        ok = np.isfinite(pos)
        np.add.at(out, pos[ok].astype(np.int64), due["amount"].to_numpy(float)[ok])
    return out


def write_outputs(result: LabResult, out: str | Path) -> list[Path]:
    """summary.csv, daily.csv and report.html into ``out`` (each written atomically)."""
    from engine.core.files import atomic_write_text
    from engine.lab.report import render_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "summary.csv", out / "daily.csv", out / "report.html"]
    atomic_write_text(files[0], result.summary.to_csv(index=False))
    atomic_write_text(files[1], result.daily.round(6).to_csv(index=False))
    atomic_write_text(files[2], render_report(result))
    return files
