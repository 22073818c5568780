# Long because the optimizer's examples, its QP-vs-cvxpy check and its property tests share the account builders at its top; one file per optimizer module once #14 splits engine/decide/optimizer.py.
"""Tests of the per-account tax-aware optimizer and score (engine/decide/optimizer.py)."""
from __future__ import annotations

import math
import time

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, HealthCheck, settings, strategies as st

from engine.decide import optimizer as opt
from engine.decide.optimizer import (
    AccountInput,
    AccountResult,
    OptimizerSettings,
    optimize_account,
    optimize_many,
)

SETTINGS = OptimizerSettings()
NAN = float("nan")


# --------------------------------------------------------------------------- builders
def sec(sym, price, cls, grp=None, tgt=0.0, rating=NAN, can_buy=True, can_sell=True, must=False):
    return dict(sym=sym, price=price, cls=cls, grp=grp or sym, tgt=tgt, rating=rating,
                can_buy=can_buy, can_sell=can_sell, must=must)


def lot(sym, qty, cost, short_term=False, blocked=False, lot_id=None):
    return dict(sym=sym, qty=qty, cost=cost, st=short_term, blocked=blocked, id=lot_id)


def account(secs, lots, cash=0.0, taxable=True, st_rate=0.37, lt_rate=0.20, model_cash=0.0,
            cash_needed=0.0, bands=None, account_id="T1") -> AccountInput:
    idx = {s["sym"]: i for i, s in enumerate(secs)}
    col = lambda k, dt=None: np.array([s[k] for s in secs], dtype=dt)
    return AccountInput(
        account_id=account_id, cash=float(cash), taxable=taxable,
        st_rate=st_rate if taxable else 0.0, lt_rate=lt_rate if taxable else 0.0,
        symbols=col("sym"), price=col("price", float), asset_class=col("cls"),
        drift_group=col("grp"), target_w=col("tgt", float), rating=col("rating", float),
        can_buy=col("can_buy", bool), can_sell=col("can_sell", bool), must_sell=col("must", bool),
        model_cash_w=model_cash, cash_needed=float(cash_needed), class_bands=bands or {},
        lot_id=np.array([lt["id"] or f"L{j}" for j, lt in enumerate(lots)]),
        lot_sec=np.array([idx[lt["sym"]] for lt in lots], dtype=np.intp),
        lot_qty=np.array([lt["qty"] for lt in lots], dtype=float),
        lot_unit_cost=np.array([lt["cost"] for lt in lots], dtype=float),
        lot_short_term=np.array([lt["st"] for lt in lots], dtype=bool),
        lot_loss_sale_blocked=np.array([lt["blocked"] for lt in lots], dtype=bool),
    )


def lines(res: AccountResult, side=None, symbol=None):
    return [t for t in res.trades if (side is None or t.side == side)
            and (symbol is None or t.symbol == symbol)]


def traded_value(res, side):
    return sum(t.value for t in lines(res, side))


def check_invariants(inp: AccountInput, res: AccountResult):
    """Invariants every proposal must satisfy (used by the examples and the property tests)."""
    assert res.status == "optimal", res.status
    idx = {str(s): i for i, s in enumerate(inp.symbols)}
    lot_idx = {str(l): j for j, l in enumerate(inp.lot_id)}
    price = inp.price
    seen = set()
    bought, sold = set(), set()
    for t in res.trades:
        assert t.symbol not in seen, "one line per security"
        seen.add(t.symbol)
        s = idx[t.symbol]
        assert isinstance(t.shares, int) and t.shares > 0
        assert t.value == pytest.approx(t.shares * price[s])
        assert t.reason in opt.REASONS
        if t.side == "BUY":
            assert inp.can_buy[s] and not inp.must_sell[s], f"bought blocked {t.symbol}"
            assert t.lots == ()
            bought.add(s)
        else:
            assert t.side == "SELL"
            assert inp.can_sell[s], f"sold halted {t.symbol}"
            sold.add(s)
            assert sum(sh for _, sh in t.lots) == t.shares
            for lid, sh in t.lots:
                j = lot_idx[lid]
                assert inp.lot_sec[j] == s
                assert isinstance(sh, int) and 0 < sh <= math.floor(inp.lot_qty[j] + 1e-9)
                at_loss = inp.lot_unit_cost[j] > price[s]
                if inp.lot_loss_sale_blocked[j] and at_loss:
                    assert inp.must_sell[s], "wash sale: blocked lot sold at a loss"
    assert not (bought & sold), "a security is bought and sold in one proposal"
    held = np.bincount(inp.lot_sec, inp.lot_qty, len(price))
    for t in lines(res, "SELL"):
        assert t.shares <= held[idx[t.symbol]] + 1e-9
    # frozen securities never trade
    for s in np.flatnonzero(~inp.can_buy & ~inp.can_sell):
        assert str(inp.symbols[s]) not in seen
    # restricted holdings that can be sold are sold in full (whole shares of every lot)
    for s in np.flatnonzero(inp.must_sell & inp.can_sell):
        whole = int(sum(math.floor(q + 1e-9) for q, ls in zip(inp.lot_qty, inp.lot_sec) if ls == s))
        if whole:
            (t,) = lines(res, "SELL", str(inp.symbols[s]))
            assert t.shares == whole and t.reason == "restriction"
    # score parts add up; cash is consistent
    parts = (res.drift_benefit + res.harvest_benefit + res.rating_benefit - res.trading_cost
             - res.tax_cost)
    assert res.score == pytest.approx(parts, abs=1e-6)
    assert res.score_bps == pytest.approx(res.score / res.value * 1e4, abs=1e-9)
    # realized tax is this year's tax (losses at the full rate); harvest_benefit is the losses'
    # value under the settings' valuation (the full rate too when harvest_value = "full")
    assert res.realized_tax == pytest.approx(res.tax_cost - res.tax_saved, abs=1e-6)
    assert res.harvest_benefit >= 0 and res.tax_saved >= 0
    sv, bv = traded_value(res, "SELL"), traded_value(res, "BUY")
    assert res.cash_post == pytest.approx(inp.cash + sv - bv - res.trading_cost, abs=1e-6)
    assert res.turnover == pytest.approx((sv + bv) / res.value)


# --------------------------------------------------------------------------- a small model
def balanced(**kw):
    """60/40 model of two groups, each with a substitute; the account holds the model."""
    secs = [
        sec("VTI", 200.0, "EQ", "US", 0.58),
        sec("ITOT", 100.0, "EQ", "US"),
        sec("AGG", 100.0, "FI", "BOND", 0.40),
        sec("BND", 80.0, "FI", "BOND"),
    ]
    lots = [lot("VTI", 2900, 150.0), lot("AGG", 4000, 95.0)]
    kw.setdefault("cash", 20_000.0)
    kw.setdefault("model_cash", 0.02)
    return secs, lots, kw


def test_account_on_target_is_left_alone_quickly():
    secs, lots, kw = balanced()
    inp = account(secs, lots, **kw)
    t0 = time.perf_counter()
    res = optimize_account(inp, SETTINGS)
    assert time.perf_counter() - t0 < 0.05
    assert res.status == "optimal" and res.trades == [] and res.n_solves == 0
    assert res.te_pre == pytest.approx(0.0, abs=1e-12) and res.score == 0.0
    assert res.class_weights_pre["EQ"] == pytest.approx(0.58)
    assert res.class_targets == {"EQ": 0.58, "FI": 0.40, "CASH": 0.02}


def test_drifted_account_trades_back_toward_model():
    secs, _, kw = balanced()
    lots = [lot("VTI", 4000, 150.0), lot("AGG", 1800, 95.0)]  # ~80/18 vs 58/40
    inp = account(secs, lots, taxable=False, **kw)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert res.te_post < 0.25 * res.te_pre
    assert lines(res, "SELL", "VTI") and (lines(res, "BUY", "AGG") or lines(res, "BUY", "BND"))
    assert abs(res.class_weights_post["EQ"] - 0.58) < abs(res.class_weights_pre["EQ"] - 0.58)
    assert res.drift_benefit > 0 and res.score > 0
    assert {t.reason for t in res.trades} == {"drift"}


def test_higher_lambda_means_less_drift_after_trading():
    secs, _, kw = balanced()
    lots = [lot("VTI", 3600, 60.0), lot("AGG", 2200, 95.0)]  # large gains in the overweight
    inp = account(secs, lots, **kw)
    lo = optimize_account(inp, OptimizerSettings(tradeoff_lambda=0.2))
    hi = optimize_account(inp, OptimizerSettings(tradeoff_lambda=5.0))
    check_invariants(inp, lo)
    check_invariants(inp, hi)
    assert hi.te_post < lo.te_post
    assert hi.tax_cost > lo.tax_cost


def test_tax_exempt_account_sells_more_gains_than_taxed_one():
    secs, _, kw = balanced()
    lots = [lot("VTI", 3600, 40.0), lot("AGG", 2200, 95.0)]  # VTI overweight with 80% gains
    taxed = optimize_account(account(secs, lots, taxable=True, **kw), SETTINGS)
    exempt = optimize_account(account(secs, lots, taxable=False, **kw), SETTINGS)
    assert traded_value(exempt, "SELL") > traded_value(taxed, "SELL") + 10_000
    assert exempt.tax_cost == 0.0 and taxed.tax_cost > 0.0
    assert exempt.te_post < taxed.te_post


def harvest_account(blocked=False, sub_can_buy=True):
    secs = [
        sec("VTI", 60.0, "EQ", "US", 0.58),
        sec("ITOT", 100.0, "EQ", "US", can_buy=sub_can_buy),
        sec("AGG", 100.0, "FI", "BOND", 0.40),
    ]
    lots = [
        lot("VTI", 9667, 100.0, short_term=True, blocked=blocked, lot_id="deep-loss"),
        lot("AGG", 4000, 95.0),
    ]
    return account(secs, lots, cash=20_000.0, model_cash=0.02)


def test_deep_short_term_loss_is_harvested_into_its_substitute():
    inp = harvest_account()
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    (sell,) = lines(res, "SELL", "VTI")
    assert sell.lots[0][0] == "deep-loss" and sell.reason == "harvest"
    assert sell.shares > 9000
    (buy,) = lines(res, "BUY", "ITOT")
    assert buy.reason == "harvest" and buy.value > 0.9 * sell.value
    assert not lines(res, "BUY", "VTI")  # never buy back what is sold at a loss
    assert res.harvest_benefit == pytest.approx(sell.shares * 40.0 * 0.37, rel=1e-9)
    assert res.realized_gain < 0 and res.realized_tax < 0 and res.score > 0
    assert res.te_post < 0.01  # the substitute keeps the account on its model


def test_wash_sale_blocked_lot_is_not_sold_at_a_loss():
    inp = harvest_account(blocked=True)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert not lines(res, "SELL", "VTI")
    assert res.harvest_benefit == 0.0


def test_wash_sale_buy_block_is_respected():
    # ITOT was sold at a loss recently: it cannot be bought, so there is no substitute and the
    # harvest is not worth the drift; VTI is under-weight and is what gets bought instead
    secs = [
        sec("VTI", 200.0, "EQ", "US", 0.58),
        sec("ITOT", 100.0, "EQ", "US", can_buy=False),
        sec("AGG", 100.0, "FI", "BOND", 0.40),
    ]
    lots = [lot("VTI", 1500, 150.0), lot("AGG", 4000, 95.0)]
    inp = account(secs, lots, cash=300_000.0, model_cash=0.02)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert not lines(res, "BUY", "ITOT")
    assert lines(res, "BUY", "VTI")


def test_restricted_holding_is_sold_in_full_and_never_bought():
    secs, lots, kw = balanced()
    secs.append(sec("MO", 50.0, "EQ", "TOBACCO", can_buy=False, must=True))
    lots = lots + [lot("MO", 300, 60.0, lot_id="mo-loss"), lot("MO", 120.6, 20.0, lot_id="mo-gain"),
                   lot("MO", 50, 55.0, blocked=True, lot_id="mo-wash")]
    inp = account(secs, lots, **kw)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    (t,) = lines(res, "SELL", "MO")
    assert t.shares == 300 + 120 + 50 and t.reason == "restriction"
    assert dict(t.lots) == {"mo-loss": 300, "mo-gain": 120, "mo-wash": 50}
    assert [lid for lid, _ in t.lots] == ["mo-loss", "mo-wash", "mo-gain"]  # highest basis first
    assert not lines(res, "BUY", "MO")


def test_frozen_security_is_never_traded():
    secs, _, kw = balanced()
    secs[0]["can_buy"] = secs[0]["can_sell"] = False  # VTI halted, heavily overweight
    lots = [lot("VTI", 4500, 150.0), lot("AGG", 1000, 95.0)]
    kw["cash"] = 100_000.0
    inp = account(secs, lots, taxable=False, **kw)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert not lines(res, symbol="VTI")
    assert lines(res, "BUY", "AGG")  # it still rebalances what it can with the spare cash


def test_cash_request_is_met():
    secs, lots, kw = balanced()
    inp = account(secs, lots, cash_needed=75_000.0, **kw)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    need = 0.02 * res.value + 75_000.0
    assert res.cash_required == pytest.approx(need)
    assert res.cash_post >= need and res.cash_shortfall == 0.0
    assert not lines(res, "BUY")
    assert {t.reason for t in res.trades} == {"cash"}


def test_cash_request_that_cannot_be_met_reports_a_shortfall():
    secs, lots, kw = balanced()
    for s in secs:
        s["can_sell"] = False
    inp = account(secs, lots, cash_needed=75_000.0, **kw)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert res.trades == []
    assert res.cash_shortfall == pytest.approx(0.02 * res.value + 75_000.0 - 20_000.0)


def test_partial_sale_names_losses_first_then_highest_basis():
    secs = [sec("VTI", 100.0, "EQ", "US", 0.5), sec("AGG", 100.0, "FI", "BOND", 0.5)]
    lots = [
        lot("VTI", 100, 50.0, lot_id="gain-50"),
        lot("VTI", 100, 120.0, lot_id="loss-120"),
        lot("VTI", 100, 90.0, lot_id="gain-90"),
        lot("VTI", 100, 101.0, lot_id="loss-101"),
        lot("VTI", 100, 80.0, blocked=True, lot_id="blocked-gain-80"),
        lot("VTI", 100, 130.0, blocked=True, lot_id="blocked-loss-130"),
        lot("AGG", 600, 100.0),
    ]
    inp = account(secs, lots, taxable=False, cash_needed=35_000.0)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    (t,) = lines(res, "SELL", "VTI")
    names = [lid for lid, _ in t.lots]
    expect = ["loss-120", "loss-101", "gain-90", "blocked-gain-80", "gain-50"]
    assert names == expect[:len(names)]
    assert all(sh == 100 for _, sh in t.lots[:-1])  # only the last lot is partial
    assert "blocked-loss-130" not in names


def test_bands_are_enforced_with_band_reason():
    secs, _, kw = balanced()
    lots = [lot("VTI", 3300, 195.0), lot("AGG", 3000, 95.0)]  # EQ ~ 67% vs band 53..63%
    inp = account(secs, lots, taxable=True, bands={"EQ": (0.53, 0.63), "FI": (0.35, 0.45)},
                  **kw)
    res = optimize_account(inp, OptimizerSettings(tradeoff_lambda=0.01))  # drift alone: no
    check_invariants(inp, res)
    assert res.class_weights_pre["EQ"] > 0.63
    assert res.class_weights_post["EQ"] <= 0.63 + 0.002
    assert {t.reason for t in lines(res, "SELL")} == {"band"}


def test_rating_moves_weight_to_the_better_rated_substitute():
    secs, lots, kw = balanced()
    secs[0]["rating"], secs[1]["rating"] = 10.0, 1.0
    inp = account(secs, lots, taxable=False, **kw)
    res = optimize_account(inp, OptimizerSettings(rating_value_bps=50.0))
    check_invariants(inp, res)
    assert lines(res, "SELL", "VTI") and lines(res, "BUY", "ITOT")
    assert res.rating_benefit > 0 and res.score > 0


def test_min_trade_size_and_whole_shares():
    secs, _, kw = balanced()
    lots = [lot("VTI", 2905, 150.0), lot("AGG", 3995, 95.0)]  # tiny drift
    inp = account(secs, lots, taxable=False, **kw)
    res = optimize_account(inp, OptimizerSettings(min_trade_dollars=5_000.0))
    check_invariants(inp, res)
    assert all(t.value >= 5_000.0 for t in res.trades)


def test_empty_and_all_cash_accounts():
    secs = [sec("VTI", 200.0, "EQ", "US", 0.98)]
    res = optimize_account(account(secs, [], cash=0.0), SETTINGS)
    assert res.status == "optimal" and res.trades == []
    inp = account(secs, [], cash=100_000.0, model_cash=0.02)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    (t,) = res.trades
    assert t.side == "BUY" and t.shares == 489 and res.cash_post >= 2_000.0


def test_failures_become_a_status_not_an_exception(monkeypatch):
    secs, _, kw = balanced()
    lots = [lot("VTI", 4000, 150.0), lot("AGG", 1800, 95.0)]
    good = account(secs, lots, **kw)
    bad = account(secs, lots, **kw)
    bad.price = np.array([np.nan, 100.0, 100.0, 80.0])  # a held security without a price
    unpriced_sub = account(secs, lots, **kw)
    unpriced_sub.price = np.array([200.0, 0.0, 100.0, np.nan])  # substitutes, not held
    res = optimize_many([bad, good, unpriced_sub], SETTINGS)
    assert res[0].status.startswith("failed: ValueError: held security without a valid price: VTI")
    assert res[0].trades == []
    assert res[1].status == "optimal"
    check_invariants(unpriced_sub, res[2])
    assert {t.symbol for t in res[2].trades} == {"VTI", "AGG"}

    def boom(self, xl, xu):
        raise opt._SolverError("PIQP_NUMERICS")

    monkeypatch.setattr(opt._Session, "_piqp", boom)
    monkeypatch.setattr(opt._Session, "_clarabel", boom)
    (res,) = optimize_many([good], SETTINGS)
    assert res.status == "failed: PIQP PIQP_NUMERICS; CLARABEL PIQP_NUMERICS"
    assert res.trades == [] and res.te_pre > 0


def test_clarabel_fallback_gives_the_same_proposal(monkeypatch):
    inp = harvest_account()
    ref = optimize_account(inp, SETTINGS)

    def boom(self, xl, xu):
        raise opt._SolverError("PIQP_NUMERICS")

    monkeypatch.setattr(opt._Session, "_piqp", boom)
    res = optimize_account(inp, SETTINGS)
    check_invariants(inp, res)
    assert [(t.symbol, t.side, t.shares) for t in res.trades] == [
        (t.symbol, t.side, t.shares) for t in ref.trades]


def test_assembled_qp_matches_cvxpy_formulation():
    """The hand-assembled QP over lot buckets has the optimum of the plain cvxpy model."""
    pytest.importorskip("cvxpy")
    book = [harvest_account(), account(*balanced()[:2], cash_needed=50_000.0, model_cash=0.02)]
    rng = np.random.default_rng(7)
    book += [random_account(rng, i) for i in range(6)]
    for inp in book:
        p = opt._prepare(inp, SETTINGS)
        q = opt._build_qp(p, SETTINGS)
        z = opt._Session(q, SETTINGS).solve(q.xl, q.xu)
        value = 0.5 * z @ (q.P @ z) + q.c @ z
        prob, _, _ = opt.build_cvxpy_problem(inp, SETTINGS)
        prob.solve(solver="CLARABEL")
        assert value == pytest.approx(prob.value, abs=1e-6)
        # with the per-security tracking term (own_vol): the extra variables and rows
        st = replace(SETTINGS, own_vol=0.06)
        p = opt._prepare(inp, st)
        q = opt._build_qp(p, st)
        assert q.n == len(q.c) == len(q.xl) == q.A.shape[1] == q.Gm.shape[1] == q.P.shape[0]
        z = opt._Session(q, st).solve(q.xl, q.xu)
        value = 0.5 * z @ (q.P @ z) + q.c @ z
        prob, _, _ = opt.build_cvxpy_problem(inp, st)
        prob.solve(solver="CLARABEL")
        assert value == pytest.approx(prob.value, abs=1e-6)


def test_security_tracking_term_charges_a_substitute_held_for_the_model_security():
    """With own_vol, holding the substitute instead of the model security is tracking error
    (same group, so without it TE is the same); the optimizer swaps back when it is worth it."""
    secs = [sec("VTI", 100.0, "EQ", "US", 0.58), sec("ITOT", 100.0, "EQ", "US"),
            sec("AGG", 100.0, "FI", "BOND", 0.40)]
    # an IRA holding the substitute ITOT where the model holds VTI (nothing to pay to swap)
    inp = account(secs, [lot("ITOT", 5800, 100.0), lot("AGG", 4000, 100.0)], cash=20_000.0,
                  model_cash=0.02, taxable=False)
    assert optimize_account(inp, SETTINGS).trades == []  # a perfect stand-in: no drift
    assert opt.tracking_error(inp, SETTINGS) < 1e-9
    st = replace(SETTINGS, own_vol=0.06, tradeoff_lambda=3.0)
    te = opt.tracking_error(inp, st)
    assert te == pytest.approx(0.06 * math.sqrt(2 * 0.58 ** 2), rel=1e-9)  # ITOT +58 %, VTI -58 %
    res = optimize_account(inp, st)
    check_invariants(inp, res)
    (sell,) = lines(res, "SELL", "ITOT")
    (buy,) = lines(res, "BUY", "VTI")
    assert sell.shares > 5000 and buy.shares > 5000 and res.te_post < 0.2 * te
    assert res.drift_benefit > res.trading_cost


# --------------------------------------------------------------------------- property tests
def random_account(rng: np.random.Generator, i: int = 0,
                   n_sec: int | None = None) -> AccountInput:
    S = int(n_sec or rng.integers(2, 8))
    price = np.round(rng.uniform(5, 300, S), 2)
    groups = rng.integers(0, max(1, S - 1), S)
    classes = np.array(["EQ", "FI", "ALT"])[groups % 3]
    target = rng.dirichlet(np.ones(S)) * rng.uniform(0.9, 1.0) * (rng.random(S) < 0.8)
    held = rng.random(S) < 0.7
    n_lots = rng.integers(1, 4, S) * held
    lot_sec = np.repeat(np.arange(S), n_lots)
    L = len(lot_sec)
    V = float(rng.uniform(2e4, 2e6))
    qty = np.floor(rng.uniform(0, 0.3, L) * V / price[lot_sec])
    qty += rng.choice([0, 0.5], L, p=[.9, .1])  # some fractional lots
    frozen = rng.random(S) < 0.1
    return AccountInput(
        account_id=f"R{i}", cash=float(rng.uniform(0, 0.2) * V), taxable=bool(rng.random() < .7),
        st_rate=0.37, lt_rate=0.2, symbols=np.array([f"S{s}" for s in range(S)]), price=price,
        asset_class=classes, drift_group=np.array([f"G{g}" for g in groups]), target_w=target,
        rating=np.where(rng.random(S) < .3, np.nan, rng.integers(1, 11, S)).astype(float),
        can_buy=(rng.random(S) > 0.15) & ~frozen, can_sell=(rng.random(S) > 0.05) & ~frozen,
        must_sell=(rng.random(S) < 0.1) & held, model_cash_w=float(rng.uniform(0, 0.05)),
        cash_needed=float(rng.uniform(0, 0.3) * V) if rng.random() < 0.2 else 0.0,
        class_bands={"EQ": (0.3, 0.7)} if rng.random() < 0.3 else {},
        lot_id=np.array([f"R{i}L{j}" for j in range(L)]), lot_sec=lot_sec, lot_qty=qty,
        lot_unit_cost=np.round(price[lot_sec] * np.exp(rng.normal(-0.1, 0.4, L)), 2),
        lot_short_term=rng.random(L) < 0.4, lot_loss_sale_blocked=rng.random(L) < 0.2,
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), lam=st.sampled_from([0.1, 1.0, 10.0]),
       ticket=st.sampled_from([0.0, 15.0]), min_d=st.sampled_from([0.0, 500.0, 5000.0]))
@example(seed=13304, lam=0.1, ticket=0.0, min_d=0.0)  # cash repair capped by a class without a lower edge (inf)
def test_random_accounts_keep_every_invariant(seed, lam, ticket, min_d):
    rng = np.random.default_rng(seed)
    inp = random_account(rng, seed % 1000)
    cfg = OptimizerSettings(tradeoff_lambda=lam, ticket_cost=ticket, min_trade_dollars=min_d)
    (res,) = optimize_many([inp], cfg)
    check_invariants(inp, res)
    assert res.cash_post >= -1e-6  # never overspends (cash starts >= 0)
    if res.cash_shortfall == 0.0:
        assert res.cash_post >= res.cash_required - 1e-6
    for t in res.trades:
        assert t.value >= min_d or inp.must_sell[list(inp.symbols).index(t.symbol)]


def test_bench_style_book_keeps_every_invariant():
    """Realistic sizes (the benchmark's generator), a few hundred accounts."""
    bench = pytest.importorskip("bench.bench_optimizer")
    book = bench.make_book(150, seed=11, large_share=0.1)
    results = optimize_many(book, SETTINGS)
    for inp, res in zip(book, results):
        check_invariants(inp, res)
    assert sum(1 for r in results if r.trades) > 100


# --------------------------------------------------------------------------- fast-path pieces
@given(st.floats(0.01, 5000.0), st.integers(1, 20), st.sampled_from([0.0, 1.0, 100.0, 500.0, 1234.5]))
@settings(max_examples=300, deadline=None)
def test_min_shares_threshold_is_the_direct_test(price, min_s, min_d):
    """The cached per-security threshold equals 'k < min_s or k * price < min_d' for every k."""
    prices = np.array([price, min_d / 7 if min_d else 1.0, min_d / 3 if min_d else 2.0])
    need = opt._min_shares(prices, min_s, min_d)
    for s, px in enumerate(prices):
        for k in range(0, int(need[s]) + 3):
            assert (k < need[s]) == (k < min_s or k * px < min_d), (px, k, need[s])


def test_universe_cache_follows_the_settings_and_the_key():
    """A universe shared by accounts (same key) gives the same results as a cold cache, also
    when two settings alternate; a different universe under a new key is not confused."""
    secs, lots, kw = balanced(cash=2_000.0)
    lots = [lot("VTI", 3600, 150.0), lot("AGG", 3000, 95.0)]
    a = account(secs, lots, **kw)
    loose = OptimizerSettings(tradeoff_lambda=0.2, min_trade_dollars=100.0)

    def fresh(inp, s):
        opt._UNIV_CACHE.clear()
        return optimize_account(inp, s)

    cold = {id(s): fresh(a, s) for s in (SETTINGS, loose)}
    a.universe_key = ("book", "model", b"same")
    for s in (SETTINGS, loose, SETTINGS, loose):
        res = optimize_account(a, s)
        ref = cold[id(s)]
        assert res.trades == ref.trades and res.score == ref.score
    assert cold[id(SETTINGS)].trades != cold[id(loose)].trades
    # other settings give a new settled record; one already handed out never changes (a
    # thread optimizing with it never sees a half-updated universe)
    (u,) = [v for k, v in opt._UNIV_CACHE.items() if k == a.universe_key]
    first = u.settle(SETTINGS)
    second = u.settle(loose)
    assert first is not second and u.settled is second
    assert first.lam == SETTINGS.tradeoff_lambda and second.lam == loose.tradeoff_lambda
    assert first.min_w.tolist() != second.min_w.tolist()
    # other prices under another key: own numbers
    secs2 = [dict(x, price=x["price"] * 1.5) for x in secs]
    b = account(secs2, lots, **kw)
    ref_b = fresh(b, SETTINGS)
    b.universe_key = ("book", "model", b"other")
    optimize_account(a, SETTINGS)
    res_b = optimize_account(b, SETTINGS)
    assert res_b.trades == ref_b.trades and res_b.value == ref_b.value


def test_results_survive_pickling_exactly():
    """Results cross process boundaries in a compact form; nothing is lost on the way."""
    import pickle

    bench = pytest.importorskip("bench.bench_optimizer")
    results = optimize_many(bench.make_book(40, seed=5, large_share=0.1), SETTINGS)
    back = pickle.loads(pickle.dumps(results, -1))
    assert back == results
    assert all(type(t) is opt.TradeLine for r in back for t in r.trades)
    assert sum(len(r.trades) for r in back) > 40


def test_builder_fast_paths_give_the_per_account_results(tmp_path):
    """The run's builder hands the optimizer a universe key and the lots' tax terms derived
    for the whole book; optimizing without them (everything derived per account, cold caches)
    gives the very same results on a sample book."""
    import dataclasses

    from engine.decide import workflow as wf
    from engine.book.importer import import_book
    from engine.decide.overrides import active_overrides
    from engine.book.sample import generate_sample
    from storage import repo
    from storage.db import make_engine

    generate_sample(tmp_path / "book", accounts=300, seed=3)
    engine = make_engine(tmp_path / "book.db")
    import_book(engine, tmp_path / "book", user="t")
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        frames = repo.read_book_frames(conn, snap.id)
        policy = wf.current_policy(conn)
        ov = active_overrides(conn, snap.as_of)
    hold = wf.holdings(frames["lots"])
    facts, extras = wf.account_facts(frames, snap.as_of, policy, set(), hold)
    builder = wf.InputBuilder(frames, facts, extras, snap.as_of, policy, set(ov.freeze))
    settings = wf.optimizer_settings(policy)
    fast = [builder.build(a) for a in facts["account_id"]]
    assert all(i.universe_key is not None and i.lot_terms is not None for i in fast)
    plain = [dataclasses.replace(i, universe_key=None, lot_terms=None) for i in fast]
    opt._UNIV_CACHE.clear()
    want = optimize_many(plain, settings)
    opt._UNIV_CACHE.clear()
    got = optimize_many(fast, settings)
    for a, b in zip(want, got):
        a.solve_time = b.solve_time = 0.0
    assert got == want
    assert sum(len(r.trades) for r in got) > 100
    assert sum(1 for r in got if r.harvest_benefit > 0) > 5  # the tax terms matter here


def test_shared_qp_pieces_are_not_written_by_the_solver():
    """Band rows are shared by the accounts with the same bands and handed to the solver as
    they are: solving must leave them unchanged."""
    bench = pytest.importorskip("bench.bench_optimizer")
    book = bench.make_book(60, seed=8, large_share=0.1)
    optimize_many(book[:5], SETTINGS)
    records = list(opt._BANDS_CACHE.values()) + list(opt._NO_BANDS.values())
    before = [(r.g_idx.copy(), r.g_val.copy(), r.hu.copy(), r.hl.copy()) for r in records]
    results = optimize_many(book, SETTINGS)
    assert sum(r.n_solves for r in results) > 50
    for r, (gi, gv, hu, hl) in zip(records, before):
        assert np.array_equal(r.g_idx, gi) and np.array_equal(r.g_val, gv)
        assert np.array_equal(r.hu, hu) and np.array_equal(r.hl, hl, equal_nan=True)


# --------------------------------------------------------------------------- order lines that do not pay
def _slightly_off(ticket: float, prune: bool, min_drift: float = 0.0):
    secs = [sec("VTI", 100.0, "EQ", "US", 0.58), sec("AGG", 100.0, "FI", "BOND", 0.40)]
    # $100k IRA: AGG 1.5 points under its weight, the difference in cash
    inp = account(secs, [lot("VTI", 580, 100.0), lot("AGG", 385, 100.0)], cash=3_500.0,
                  model_cash=0.02, taxable=False)
    st = replace(SETTINGS, ticket_cost=ticket, min_trade_dollars=500.0, prune_lines=prune, min_drift_dollars=min_drift)
    return inp, optimize_account(inp, st)


def test_a_drift_line_that_does_not_pay_its_ticket_is_dropped():
    inp, cheap = _slightly_off(1.0, True)
    check_invariants(inp, cheap)
    (buy,) = lines(cheap, "BUY", "AGG")  # worth its $1 ticket: kept
    assert cheap.score > 0
    _, kept = _slightly_off(200.0, False)
    assert lines(kept, "BUY", "AGG") and kept.score < 0  # without pruning: a line that loses money
    _, pruned = _slightly_off(200.0, True)
    assert pruned.trades == [] and pruned.score == 0.0
    # a drift minimum above the line's size drops it although it pays its ticket; below, it stays
    _, small = _slightly_off(1.0, True, min_drift=buy.value + 1.0)
    assert small.trades == [] and small.score == 0.0
    _, big = _slightly_off(1.0, True, min_drift=buy.value - 1.0)
    assert lines(big, "BUY", "AGG")


def test_pruning_only_improves_the_score_and_keeps_mandates():
    rng = np.random.default_rng(11)
    dropped = 0
    for i in range(25):
        inp = random_account(rng, i)
        st0 = replace(SETTINGS, ticket_cost=float(rng.choice([50.0, 2_000.0, 20_000.0])))
        a = optimize_account(inp, st0)
        b = optimize_account(inp, replace(st0, prune_lines=True))
        if a.status != "optimal":
            continue
        check_invariants(inp, b)
        assert b.score >= a.score - 1e-6, i
        assert len(b.trades) <= len(a.trades)
        dropped += len(a.trades) - len(b.trades)
        assert b.cash_shortfall <= a.cash_shortfall + 0.01
        # restriction sales are never dropped
        must = {t.symbol for t in a.trades if t.reason == "restriction"}
        assert must <= {t.symbol for t in b.trades if t.reason == "restriction"}
    assert dropped > 0  # the random book has lines that do not pay


def test_a_groups_buy_goes_to_one_security():
    """Cash to invest in a group of three interchangeable securities (same class, same group,
    unrated): one order line, not a buy spread over the three; the model security is the one."""
    secs = [sec("VTI", 100.0, "EQ", "US", 0.60), sec("ITOT", 80.0, "EQ", "US"), sec("SCHB", 50.0, "EQ", "US"),
            sec("AGG", 100.0, "FI", "BOND", 0.38)]
    inp = account(secs, [lot("VTI", 300, 100.0), lot("AGG", 380, 100.0)], cash=32_000.0,
                  model_cash=0.02, taxable=False)
    res = optimize_account(inp, replace(SETTINGS, min_trade_dollars=100.0))
    check_invariants(inp, res)
    buys = [t for t in res.trades if t.side == "BUY" and t.symbol in ("VTI", "ITOT", "SCHB")]
    assert [t.symbol for t in buys] == ["VTI"] and buys[0].value > 25_000
