# Long because the run (load, decide, persist) and its report share the run record; its inputs are in inputs.py and where accounts are optimized in executors.py.
"""The day's run: checks → overrides → mandates → optimize + score → route by tier → persist.

One run = one book snapshot + one policy. Every account ends in exactly one category:
SUSPENDED, HELD, MANDATE, SCORE or NO_TRADE. The run is one database transaction.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import Executor, wait, FIRST_COMPLETED
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select, update

from engine.book import cash_owed
from engine.decide import household_location, household_wash
from engine.decide.household_books import household_last_good
from engine.decide.batch_guard import exported_accounts, hold_late_exports
from engine.book.checks import run_checks
from engine.decide.executors import open_executor
from engine.core.frames import holdings
from engine.book import model_changes
from engine.decide.gains_budget import budget_notes, report_columns
from engine.decide.mandates import account_facts, threshold_bps
from engine.decide.optimizer import (AccountResult, OptimizerSettings, optimize_many)
from engine.decide.overrides import ActiveOverrides, active_overrides
from engine.core.policy import Policy, load_policy
from engine.core.identity import acting_user
from engine.book.price_checks import bad_prices, unpriced_bad
from engine.decide.inputs import InputBuilder, optimizer_settings
from engine.decide.rescore import outlier_flags
from engine.core.policy_store import current_policy as current_policy  # its home; re-exported
from engine.core.tasks import RefusedError, TaskState, ensure_state
from engine.book.valuation import last_known_prices, unpriced_symbols
from storage import models as m
from storage import repo
from storage import compact_detail
from storage.repo import latest_run_id as latest_run_id  # its home; re-exported
from storage.bulk import insert_frame, read_frame

CATEGORIES = ("SUSPENDED", "HELD", "MANDATE", "SCORE", "NO_TRADE")
CHUNK = 250


@dataclass
class RunOutcome:
    run_id: int
    summary: dict
    proposals: pd.DataFrame = field(repr=False, default=None)


def _solve_chunk(inputs, settings):
    """On an executor's worker: optimize built inputs; returns (results, seconds spent)."""
    t = time.perf_counter()
    out = optimize_many(inputs, settings)
    return out, time.perf_counter() - t


_FORKED_BUILDER: InputBuilder | None = None


def _solve_ids(account_ids, settings):
    """In a forked worker: build the inputs from the inherited book, then optimize."""
    from engine.decide.optimizer import gc_paused

    t = time.perf_counter()
    with gc_paused():  # a collection here would walk the whole inherited book for nothing
        out = optimize_many([_FORKED_BUILDER.build(a) for a in account_ids], settings)
    return out, time.perf_counter() - t


def settle_households(builder: InputBuilder, results: dict[str, AccountResult],
                      settings: OptimizerSettings) -> dict[str, AccountResult]:
    """Re-optimize, in this process, the members whose proposals would wash another member's
    loss sale (engine.decide.household_wash.settle); a no-op for a book without households."""
    w = builder.wash

    def lot_costs(a):
        s, e = builder.slices.get(a, (0, 0))
        return dict(zip(builder.lot_id[s:e].tolist(), builder.lot_cost[s:e].tolist()))

    def reoptimize(accounts):
        builder.loss_sold = w.no_buy()
        return {r.account_id: r for r in optimize_many([builder.build(a) for a in accounts], settings)}

    if not w.members and not (w.ident.str.startswith("G:")).any():
        return results
    return household_wash.settle(results, w, lot_costs, reoptimize)


def optimize_accounts(builder: InputBuilder, account_ids, settings: OptimizerSettings, *,
                      workers: int = 1, executor: Executor | None = None,
                      state: TaskState | None = None, progress=None,
                      stats: dict | None = None) -> dict[str, AccountResult]:
    """Optimize accounts in chunks through an Executor.

    ``stats["work"]`` (when given) receives the seconds spent building and optimizing the
    accounts, summed over the workers: the per-account time, without the pool's own overhead.

    With no executor and ``workers > 1``, a local process pool is forked after the book is
    indexed, so workers build their own inputs and only account ids and results cross process
    boundaries. A given executor (e.g. dask's ``Client.get_executor()``) receives built inputs.
    """
    global _FORKED_BUILDER
    from engine.decide.optimizer import gc_paused

    state = ensure_state(state)
    ids = list(account_ids)
    results: dict[str, AccountResult] = {}
    total = len(ids) or 1
    work = 0.0
    if executor is None and workers <= 1:
        with gc_paused():  # no reference cycles: results and temporaries only
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i:i + CHUNK]
                state.check()
                t = time.perf_counter()
                for r in optimize_many([builder.build(a) for a in chunk], settings):
                    results[r.account_id] = r
                work += time.perf_counter() - t
                if progress:
                    progress(len(results) / total)
        if stats is not None:
            stats["work"] = work
        return results
    # guided scheduling: chunks shrink towards the end so that the workers finish together
    # (with equal chunks the last one alone can keep one worker busy for ~5% of the stage)
    chunks, i, n = [], 0, len(ids)
    nw = 4 * max(1, workers or 1)
    while i < n:
        size = max(CHUNK // 10, min(CHUNK, (n - i) // nw), 1)
        chunks.append(ids[i:i + size])
        i += size
    own = executor is None
    if own:
        from engine.core.orphans import process_pool

        _FORKED_BUILDER = builder
        pool = process_pool(workers, "fork")  # workers die with this process (no orphans after a kill)

        def submit(chunk):
            return pool.submit(_solve_ids, chunk, settings)
    else:
        pool = executor

        def submit(chunk):
            return pool.submit(_solve_chunk, [builder.build(a, lot_terms=False) for a in chunk], settings)
    with gc_paused():  # also while the pool unpickles results
        try:
            pending = set()
            it = iter(chunks)
            window = 3 * max(1, workers)
            while True:
                while len(pending) < window:
                    chunk = next(it, None)
                    if chunk is None:
                        break
                    pending.add(submit(chunk))
                if not pending:
                    break
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk_results, seconds = fut.result()
                    work += seconds
                    for r in chunk_results:
                        results[r.account_id] = r
                if progress:
                    progress(len(results) / total)
                if state.cancelled:
                    for fut in pending:
                        fut.cancel()
                    state.check()
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
                _FORKED_BUILDER = None
    if stats is not None:
        stats["work"] = work
    # in the order asked, whatever order the workers finished in: what follows (the trades'
    # order, the lab's lots) is then the same for any number of workers
    return {a: results[a] for a in ids if a in results}


# --------------------------------------------------------------------------- the run
def _store_policy(conn, policy: Policy, user: str) -> int:
    """The policies row of the policy a run uses (for ``runs.policy_id``): an equal stored one,
    else a new row. Such a row is a record of the run, not a saved version: it has no
    POLICY_SAVE audit entry, so it never becomes the current policy (``run --policy FILE``
    cannot switch four-eyes or anything else off for everyone; saving is audited and checked)."""
    t = m.Policy.__table__
    row = conn.execute(select(t.c.id).where(t.c.checksum == policy.checksum)
                       .order_by(t.c.id.desc()).limit(1)).first()
    if row:
        return row[0]
    return conn.execute(insert(t).values(created_at=repo.now(), created_by=user, checksum=policy.checksum,
                                         body=policy.to_toml(), note="used by a run")
                        .returning(t.c.id)).scalar_one()




def _sync_suspensions(conn, susp: pd.DataFrame, snap_id: int, user: str) -> pd.DataFrame:
    """Open new suspensions, refresh ongoing ones, resolve those whose data was fixed."""
    t = m.Suspension.__table__
    open_ = read_frame(conn, select(t.c.id, t.c.account_id, t.c.code, t.c.since)
                       .where(t.c.resolved_at.is_(None)))
    now = repo.now()
    key_open = dict(zip(zip(open_["account_id"], open_["code"]), zip(open_["id"], open_["since"])))
    cur_keys = set(zip(susp["account_id"], susp["code"]))
    new = susp[[k not in key_open for k in zip(susp["account_id"], susp["code"])]]
    if len(new):
        insert_frame(conn, t, pd.DataFrame({
            "account_id": new["account_id"].to_numpy(object), "code": new["code"].to_numpy(object),
            "detail": new["detail"].to_numpy(object), "first_snapshot_id": snap_id,
            "last_snapshot_id": snap_id, "since": now}))
    ongoing = [(i, since) for k, (i, since) in key_open.items() if k in cur_keys]
    if ongoing:
        conn.execute(update(t).where(t.c.id.in_([i for i, _ in ongoing])).values(last_snapshot_id=snap_id))
    fixed = [(k, i) for k, (i, _) in key_open.items() if k not in cur_keys]
    if fixed:
        ids = [i for _, i in fixed]
        for start in range(0, len(ids), 5000):
            conn.execute(update(t).where(t.c.id.in_(ids[start:start + 5000]))
                         .values(resolved_at=now, resolved_snapshot_id=snap_id))
        for (acc, code), _ in fixed[:10000]:
            repo.audit(conn, user, "SUSPENSION_RESOLVED", account_id=acc, detail=code,
                       after={"resolved_snapshot_id": snap_id}, at=now)
    since = read_frame(conn, select(t.c.account_id, t.c.code, t.c.since).where(t.c.resolved_at.is_(None)))
    return susp.merge(since, on=["account_id", "code"], how="left")


@dataclass
class Decisions:
    """What the engine decides for one book on one day, before anything is stored.

    ``proposals`` has one row per account (the proposals table's columns without the run's ids
    and timestamps); ``detail`` the proposal detail of each row (or None); ``results`` the
    optimizer result of every optimized account (trades of MANDATE and SCORE accounts are the
    proposed trades); ``facts`` the per-account facts (engine.decide.mandates.account_facts)."""
    proposals: pd.DataFrame
    detail: list
    results: dict[str, AccountResult]
    facts: pd.DataFrame
    suspensions: pd.DataFrame
    summary: dict
    timings: dict
    bands: dict = field(default_factory=dict)

    def trades(self) -> dict[str, list]:
        """The proposed trade lines of every account that trades (MANDATE or SCORE)."""
        p = self.proposals
        trading = p["account_id"].to_numpy(object)[p["category"].isin(["MANDATE", "SCORE"]).to_numpy()]
        return {a: self.results[a].trades for a in trading}


def decide(frames: dict[str, pd.DataFrame], as_of: date, policy: Policy, *,
           overrides: ActiveOverrides | None = None, exported: set[str] = frozenset(),
           request_states: Mapping[str, str] | None = None, entered_cash: pd.Series | None = None,
           price_history: pd.DataFrame | None = None, workers: int = 1, executor: Executor | None = None,
           state: TaskState | None = None) -> Decisions:
    """The day's decisions on in-memory book frames: checks, overrides, mandates, optimizer,
    score and routing by tier. Pure: reads and writes no database (the run and the policy lab
    both call it). ``exported``: accounts whose trades were exported against this book (held,
    PENDING_EXECUTION); ``request_states`` and ``entered_cash``: which listed cash requests had
    their cash raised and the cash of trades entered that the book does not show yet
    (:mod:`engine.book.cash_owed`; None: every listed request due within the horizon is owed, nothing
    entered); ``price_history``: earlier books' prices for ``BAD_PRICE`` (None: only the zero and
    ceiling rules); ``frames["last_prices"]`` (optional) values unpriced holdings for the tier."""
    ov = overrides if overrides is not None else ActiveOverrides({}, {}, {})
    state = ensure_state(state)
    timings: dict[str, float] = {}
    t1 = time.perf_counter()
    state.progress(0.05, "integrity checks")
    hold = holdings(frames["lots"])
    bad = bad_prices(frames["securities"], policy, price_history)
    susp = run_checks(frames, as_of, policy, hold, bad=bad)
    # household optimization: members of an optimized household track their located models; their
    # mandates and bands stay those of their own models (the located class weights lie inside them)
    own = frames
    idle = set(susp["account_id"]) | set(ov.holds) | set(exported) if len(susp) else set(ov.holds) | set(exported)
    frames, plan = household_location.locate(frames, policy, as_of, idle)
    located = plan.info if plan is not None else {}
    facts, extras = account_facts(own, as_of, policy, request_states, hold, entered_cash)
    if located:
        facts["model_id"] = facts["account_id"].map(
            frames["accounts"].set_index("account_id")["model_id"]).fillna(facts["model_id"]).to_numpy(object)
    transitions = model_changes.mark_transitions(facts, frames, as_of, policy)
    timings["checks_overrides_mandates"] = time.perf_counter() - t1
    state.check()

    acc = facts
    n = len(acc)
    category = np.full(n, "", dtype=object)
    reasons = [[] for _ in range(n)]
    ids = acc["account_id"].to_numpy(object)
    pos = {a: i for i, a in enumerate(ids)}
    susp_codes = susp.groupby("account_id")["code"].agg(list).to_dict() if len(susp) else {}
    for a, codes in susp_codes.items():
        i = pos.get(a)
        if i is not None:
            category[i] = "SUSPENDED"
            reasons[i].extend(codes)
    urgent = (category == "SUSPENDED") & acc["has_high_request"].to_numpy(bool)
    for i in np.flatnonzero(urgent):
        reasons[i].append("URGENT")
    for a, why in ov.holds.items():
        i = pos.get(a)
        if i is not None and not category[i]:
            category[i] = "HELD"
            reasons[i].append(f"HOLD: {why}")
    for a in exported:
        i = pos.get(a)
        if i is not None and not category[i]:
            category[i] = "HELD"
            reasons[i].append("PENDING_EXECUTION")

    t2 = time.perf_counter()
    state.progress(0.1, "preparing the optimizer")
    builder = InputBuilder(unpriced_bad(frames, bad), acc, extras, as_of, policy, set(ov.freeze),
                           suspended=set(ids[category == "SUSPENDED"]))
    cand = ids[category == ""]
    settings = optimizer_settings(policy)
    timings["prepare"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    work: dict = {}
    thr = threshold_bps(acc["days_since_trade"].to_numpy(float), acc["tier"].to_numpy(object), policy)
    # household optimization, two steps: the tax-exempt members of an optimized household are
    # optimized once the others are decided, on what those decisions leave to them
    late = plan.second_step() & set(cand) if plan is not None else set()
    first = [a for a in cand if a not in late]
    results = optimize_accounts(builder, first, settings, workers=workers, executor=executor, state=state,
                                progress=lambda f: state.progress(0.1 + 0.75 * f,
                                                                  f"optimizing {len(cand):,} accounts"),
                                stats=work)
    if late:
        mandate_first = acc["mandate_now"].to_numpy(bool)
        decided = {}
        for a in plan.models:
            r = results.get(a)
            if r is not None and r.status == "optimal":
                go = bool(r.trades) and (mandate_first[pos[a]] or r.score_bps >= thr[pos[a]])
                decided[a] = r.class_weights_post if go else r.class_weights_pre
        for a, (mid, syms, w) in household_location.complete(plan, decided).items():
            builder.retarget(a, mid, syms, w)
        more: dict = {}
        results.update(optimize_accounts(builder, [a for a in cand if a in late], settings, workers=workers,
                                         executor=executor, state=state, stats=more))
        work["work"] = work.get("work", 0.0) + more.get("work", 0.0)
    # the accounts of a household are decided together: no member washes another's loss
    results = settle_households(builder, results, settings)
    timings["optimize"] = time.perf_counter() - t3
    timings["solver"] = float(sum(r.solve_time for r in results.values()))
    # building and optimizing the accounts, summed over workers (the pool's overhead excluded)
    timings["optimizer_work"] = float(work.get("work", 0.0))
    state.check()

    t4 = time.perf_counter()
    state.progress(0.86, "scoring and routing")
    tiers = {t.name: t for t in policy.tiers}
    cols = {k: np.full(n, np.nan) for k in ("score", "score_bps", "drift_benefit", "harvest_benefit",
                                             "rating_benefit", "trading_cost", "tax_cost", "te_pre",
                                             "te_post", "turnover", "realized_tax")}
    flags = [""] * n
    review = np.full(n, "none", dtype=object)
    status = np.full(n, "NONE", dtype=object)
    detail = [None] * n
    mandate_now = acc["mandate_now"].to_numpy(bool)
    restricted_held = acc["restricted_held"].to_numpy(object)
    # held quantities only of the accounts that must sell something (the rest never look)
    must = {a for a in results if restricted_held[pos[a]]}
    hold_df = extras["holdings"]
    hold_df = hold_df[hold_df["account_id"].isin(must)] if must else hold_df.iloc[:0]
    held_qty = dict(zip(zip(hold_df["account_id"].to_numpy(object), hold_df["symbol"].to_numpy(object)),
                        hold_df["quantity"].to_numpy(float)))
    mandates = acc["mandates"].to_numpy(object)
    cash_needed = acc["cash_needed"].to_numpy(float)
    tier_of = acc["tier"].to_numpy(object)
    cash_flow = acc["cash_flow"].to_numpy(bool) if "cash_flow" in acc else np.zeros(n, bool)
    # what each household member holds (its wash-sale blocks name only those)
    all_hold = extras["holdings"]
    in_hh = all_hold["account_id"].map(builder.wash.household).isin(builder.wash.members).to_numpy(bool)
    held_by = all_hold[in_hh].groupby("account_id")["symbol"].agg(set).to_dict() if in_hh.any() else {}
    for a, r in results.items():
        i = pos[a]
        if r.status != "optimal":
            category[i] = "SUSPENDED"
            reasons[i].append(f"OPTIMIZER_FAILED: {r.status}")
            continue
        for k in cols:
            cols[k][i] = getattr(r, k)
        halted = sorted({t.symbol for t in r.trades if t.symbol in ov.hold_accounts})
        if halted:
            category[i] = "HELD"
            reasons[i].extend(f"HALT: proposal would trade {s} ({ov.hold_accounts[s]})" for s in halted)
            continue
        f = outlier_flags(r, policy)  # the same flags an edited proposal gets (engine.decide.rescore)
        flags[i] = ";".join(f + household_wash.coverage_flags(builder.wash, a))
        detail[i] = {"class_weights_pre": r.class_weights_pre, "class_weights_post": r.class_weights_post,
                     "class_targets": r.class_targets, "class_bands": builder.bands.get(a, {}),
                     "cash_post": r.cash_post, "cash_required": r.cash_required,
                     "cash_shortfall": r.cash_shortfall, "cash_needed": float(cash_needed[i]),
                     "must_sell": {sym: held_qty.get((a, sym), 0.0)
                                   for sym in (restricted_held[i].split(";") if restricted_held[i] else [])
                                   if sym not in ov.freeze},
                     "frozen": sorted(ov.freeze),
                     "no_buy": sorted(builder.restricted.get(a, set()) | builder.loss_sold.get(a, set()))}
        hd = household_wash.household_detail(builder.wash, a, held_by.get(a, set()))
        if hd is not None:
            detail[i]["household"] = hd
            if a in located:
                hd["location"] = located[a]
        detail[i]["harvest_value"] = r.harvest_benefit
        detail[i]["tax_saved"] = r.tax_saved
        budget_notes(detail[i], reasons[i], r, bool(cash_flow[i]))
        if a in transitions:
            detail[i]["model_change"] = transitions[a]
        now_kinds = policy.mandates.trade_now
        if mandate_now[i] and r.trades:
            category[i] = "MANDATE"
            reasons[i].extend(f"MANDATE:{k}" for k in mandates[i].split(";") if k in now_kinds)
        elif r.trades and r.score_bps >= thr[i]:
            category[i] = "SCORE"
            if mandates[i]:
                reasons[i].extend(f"WAITING:{k}" for k in mandates[i].split(";"))
        else:
            category[i] = "NO_TRADE"
            if mandates[i]:  # a band mandate that trades now never waits: it is flagged below
                reasons[i].extend(f"WAITING:{k}" for k in mandates[i].split(";")
                                  if k != "band" or k not in now_kinds)
        reasons[i].extend(f"BAND_UNREACHABLE: {b}" for b in r.band_unreachable)
        if category[i] in ("MANDATE", "SCORE"):
            mode = tiers[tier_of[i]].review
            needs = mode == "all" or (mode == "outliers" and bool(f))
            review[i] = "review" if needs else "auto"
            status[i] = "PROPOSED" if needs else "APPROVED"
    category[category == ""] = "NO_TRADE"
    household_wash.household_scores(builder.wash, detail, ids, cols["score"], acc["value"].to_numpy(float))
    timings["score_route"] = time.perf_counter() - t4

    props = pd.DataFrame({
        "account_id": ids, "category": category, "urgent": urgent, "tier": acc["tier"].to_numpy(object),
        "review": review, "status": status, "value": acc["value"].to_numpy(float),
        "tier_basis": acc["tier_basis"].to_numpy(object),
        **cols, "threshold_bps": thr, "mandates": mandates, "flags": flags,
        "reasons": [";".join(r) for r in reasons],
    })
    summary = {
        "accounts": int(n),
        "categories": {c: int((category == c).sum()) for c in CATEGORIES},
        "tiers": {t.name: {c: int(((category == c) & (props["tier"] == t.name).to_numpy()).sum())
                           for c in CATEGORIES} for t in policy.tiers},
        "review": {"auto": int((review == "auto").sum()), "review": int((review == "review").sum())},
        "urgent": int(urgent.sum()), "trades": int(sum(len(results[a].trades) for a in ids[
            np.isin(category, ["MANDATE", "SCORE"])])),
    }
    return Decisions(props, detail, results, acc, susp, summary, timings, builder.bands)


def run_workflow(engine: Engine, *, policy: Policy | None = None, policy_path: str | None = None,
                 workers: int | None = None, executor: Executor | str | None = None,
                 user: str | None = None, state: TaskState | None = None) -> RunOutcome:
    """Run the day's workflow; ``executor`` says where the optimizer chunks run.

    ``executor`` is an executor spec (``"local"``, the default, or ``"dask://HOST:PORT"``, see
    :mod:`engine.decide.executors`) or a ready :class:`~concurrent.futures.Executor`. A dask cluster
    is connected before the book is loaded (an unreachable one is refused, nothing is written)
    and disconnected when the run ends. The run summary's ``executor`` names where it ran.
    """
    with open_executor(executor, workers=workers) as choice:
        return _run_workflow(engine, policy=policy, policy_path=policy_path, workers=choice.workers,
                             executor=choice.executor, executor_label=choice.label, user=user,
                             state=state)


def _run_workflow(engine: Engine, *, policy: Policy | None, policy_path: str | None, workers: int | None,
                  executor: Executor | None, executor_label: str, user: str | None,
                  state: TaskState | None) -> RunOutcome:
    state = ensure_state(state)
    user = acting_user(engine, user, "operator")
    workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    state.progress(0.0, "loading the book")
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            raise RefusedError("no book imported yet: run `import DIR` first")
        frames = repo.read_book_frames(conn, snap.id)
        history = repo.price_history(conn, snap.id)  # for BAD_PRICE: the last known prices
        if policy is None:
            policy = load_policy(policy_path) if policy_path else current_policy(conn)
        ov = active_overrides(conn, snap.as_of)
        exported = exported_accounts(conn, snap.id)
        # cash owed: which listed requests had their cash raised, and the cash of trades
        # entered that the book does not show yet; prices for what the book cannot price
        req_states = cash_owed.request_states(conn, snapshot_id=snap.id)
        entered = cash_owed.entered_cash(conn, snap.id, unexported_only=True)
        frames["household_last_good"] = household_last_good(conn, snap.id, frames["accounts"])
        frames["model_changes"] = model_changes.open_changes(conn, snap.as_of)
        frames["last_prices"] = last_known_prices(conn, snap.id, unpriced_symbols(
            frames["lots"]["symbol"].to_numpy(object), frames["securities"].set_index("symbol")["price"]))
    timings["load"] = time.perf_counter() - t0
    state.check()

    d = decide(frames, snap.as_of, policy, overrides=ov, exported=exported, request_states=req_states,
               entered_cash=entered, price_history=history, workers=workers, executor=executor, state=state)
    timings.update(d.timings)
    props, detail, results, acc, susp = d.proposals, d.detail, d.results, d.facts, d.suspensions
    ids, category, status = (props[c].to_numpy(object) for c in ("account_id", "category", "status"))

    t5 = time.perf_counter()
    state.progress(0.9, "saving the run")
    now = repo.now()
    summary = {"as_of": str(snap.as_of), "snapshot_id": snap.id, **d.summary, "executor": executor_label}
    with engine.begin() as conn:
        policy_id = _store_policy(conn, policy, user)
        run_id = conn.execute(insert(m.Run.__table__).values(
            snapshot_id=snap.id, policy_id=policy_id, as_of=snap.as_of, started_at=now, finished_at=None,
            created_by=user, status="running", workers=workers).returning(m.Run.id)).scalar_one()
        susp_since = _sync_suspensions(conn, susp, snap.id, user)
        state.check()
        pf = props.copy()
        pf.insert(0, "run_id", run_id)
        # the detail goes in compact form (storage.compact_detail), written below with the proposal ids
        pf["decided_by"] = np.where(status == "APPROVED", "auto", None)
        pf["decided_at"] = np.where(status == "APPROVED", now, None)
        pf["version"] = 1
        insert_frame(conn, m.Proposal.__table__, pf)
        state.check()
        pid = dict(conn.execute(select(m.Proposal.account_id, m.Proposal.id)
                                .where(m.Proposal.run_id == run_id)).all())
        compact_detail.write(conn, run_id, [pid[a] for a in ids], detail)
        # runs beyond the policy's retention keep their summary, not their detail
        pruned = compact_detail.prune(conn, policy.retention.keep_run_details)
        if pruned:
            summary["details_pruned"] = pruned
        timings["persist_proposals"] = time.perf_counter() - t5
        custodian = dict(zip(acc["account_id"].tolist(), acc["custodian"].tolist()))
        rows = []
        for i in np.flatnonzero(np.isin(category, ["MANDATE", "SCORE"])):
            a = ids[i]
            for t in results[a].trades:
                rows.append((pid[a], snap.id, a, custodian[a], t.symbol, t.side, int(t.shares), t.est_price,
                             t.value, ";".join(f"{l}:{q}" for l, q in t.lots) or None, category[i],
                             t.reason, status[i], user, now))
        if rows:
            tf = pd.DataFrame.from_records(rows, columns=[
                "proposal_id", "snapshot_id", "account_id", "custodian", "symbol", "side", "quantity",
                "est_price", "est_value", "lots", "category", "reason", "status", "created_by", "created_at"])
            insert_frame(conn, m.Trade.__table__, tf)
        # an account exported while this run was deciding is held, not traded again (re-read under the export lock)
        hold_late_exports(conn, run_id, snap.id, exported, summary, props, user)
        timings["persist"] = time.perf_counter() - t5
        timings["persist_trades"] = timings["persist"] - timings["persist_proposals"]
        timings["total"] = time.perf_counter() - t0
        summary["run_id"] = run_id
        summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
        conn.execute(update(m.Run.__table__).where(m.Run.id == run_id).values(
            status="done", finished_at=repo.now(), timings=json.dumps(summary["timings"]),
            summary=json.dumps(summary)))
        repo.audit(conn, user, "RUN", detail=f"run {run_id} on snapshot {snap.id} as of {snap.as_of}",
                   after=summary["categories"])
    state.progress(1.0, f"run {run_id} done")
    props["since"] = props["account_id"].map(
        susp_since.groupby("account_id")["since"].min() if len(susp_since) else {})
    return RunOutcome(run_id, summary, props)


# --------------------------------------------------------------------------- report
REPORT_COLUMNS = ["account_id", "category", "tier", "review", "status", "score_bps", "threshold_bps",
                  "flags", "reasons"]
EXTRA_COLUMNS = ["value", "score", "drift_benefit", "harvest_benefit", "rating_benefit", "trading_cost",
                 "tax_cost", "te_pre", "te_post", "turnover", "realized_tax", "mandates", "urgent", "tier_basis"]


def proposals_frame(conn, run_id: int | None = None, *, detail: bool = True) -> pd.DataFrame:
    """One run's proposals (the latest run's by default), by account. ``detail`` False leaves out
    the per-account detail JSON (the console's tables: a tenth of the read at 100,000 accounts;
    one account's detail is :func:`proposal_detail`)."""
    run_id = run_id or latest_run_id(conn)
    if run_id is None:
        raise RefusedError("no run yet: use `run` first")
    t = m.Proposal.__table__
    cols = list(t.c) if detail else [c for c in t.c if c.name != "detail"]
    df = read_frame(conn, select(*cols).where(t.c.run_id == run_id).order_by(t.c.account_id))
    return compact_detail.fill_frame(conn, df, run_id) if detail else df


def proposal_detail(conn, run_id: int, account_id: str) -> dict:
    """The detail (the decoded JSON) of ``account_id``'s proposal in run ``run_id``; {} when none."""
    t = m.Proposal.__table__
    row = conn.execute(select(t.c.id, t.c.detail).where(t.c.run_id == run_id, t.c.account_id == account_id)).first()
    if row is None:
        return {}
    text = compact_detail.text_of(conn, {"id": row.id, "detail": row.detail})
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def write_report(engine: Engine, out: str) -> int:
    from engine.core.files import check_out_file

    check_out_file(out)
    with engine.connect() as conn:
        df = proposals_frame(conn)
    extra = report_columns(df["detail"].to_numpy(object))  # budgets, trading mode, model changes
    df = df[REPORT_COLUMNS + EXTRA_COLUMNS].copy()
    for c in extra:
        df[c] = extra[c].to_numpy(object)
    for c in ("score_bps", "threshold_bps"):
        df[c] = df[c].astype(float).round(2)
    for c in ("score", "drift_benefit", "harvest_benefit", "rating_benefit", "trading_cost", "tax_cost",
              "realized_tax", "value"):
        df[c] = df[c].astype(float).round(2)
    for c in ("te_pre", "te_post", "turnover"):
        df[c] = df[c].astype(float).round(6)
    from engine.core.files import atomic_write_text
    from engine.core.safe_text import frame_cells_safe

    df = frame_cells_safe(df, ["account_id", "category", "tier", "review", "status", "flags", "reasons",
                               "mandates", "tier_basis", "model_change"])
    atomic_write_text(out, df.to_csv(index=False))
    return len(df)
