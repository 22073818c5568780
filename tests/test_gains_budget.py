"""Issue 23: gains budgets in the optimizer, on hand-built accounts (no database)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine.decide import gains_budget as gb
from engine.decide.optimizer import OptimizerSettings, optimize_account
from test_optimizer import account, check_invariants, lines, lot, sec


def drifted(**kw):
    """75/25 against a 50/50 model, the equity held at large long-term gains (a rebalance
    realizes about $5 of gain per $10 sold)."""
    secs = [sec("EQ1", 100.0, "EQ", "US", 0.5), sec("FI1", 100.0, "FI", "BOND", 0.5)]
    lots = [lot("EQ1", 4000, 50.0, lot_id="eq-lt-50"), lot("EQ1", 3500, 60.0, lot_id="eq-lt-60"),
            lot("FI1", 2500, 100.0, lot_id="fi")]
    return account(secs, lots, **kw)


def with_budget(inp, budget, ytd_st=0.0, ytd_lt=0.0):
    return dataclasses.replace(inp, gains_budget=float(budget), ytd_st=float(ytd_st), ytd_lt=float(ytd_lt))


EAGER = OptimizerSettings(tradeoff_lambda=20.0, min_trade_dollars=100.0)


def share_gain(inp):
    """The largest gain one share of any lot carries (the budget holds within one share)."""
    px = inp.price[inp.lot_sec]
    return float(np.max(np.maximum(px - inp.lot_unit_cost, 0.0)))


# --------------------------------------------------------------------------- netting
def test_year_tax_nets_short_and_long_term_as_the_tax_code_does():
    assert gb.year_tax(10_000, 5_000, 0.37, 0.20) == pytest.approx(3_700 + 1_000)
    # a net short-term loss offsets the long-term gain, taxed at the long-term rate
    assert gb.year_tax(-4_000, 10_000, 0.37, 0.20) == pytest.approx(6_000 * 0.20)
    # a net long-term loss offsets short-term gains, taxed at the short-term rate
    assert gb.year_tax(10_000, -4_000, 0.37, 0.20) == pytest.approx(6_000 * 0.37)
    assert gb.year_tax(-1_000, -2_000, 0.37, 0.20) == 0.0
    assert gb.year_tax(-12_000, 10_000, 0.37, 0.20) == 0.0


def test_a_loss_is_worth_what_it_saves_given_this_years_gains():
    m = gb.marginal_rates(20_000, 0, 0.37, 0.20)  # short-term gains realized this year
    assert m[("ST", -1)] == pytest.approx(0.37)  # a short-term loss saves at the short-term rate
    assert m[("LT", -1)] == pytest.approx(0.37)  # a long-term loss offsets them too
    m = gb.marginal_rates(0, 20_000, 0.37, 0.20)
    assert m[("ST", -1)] == pytest.approx(0.20) and m[("LT", -1)] == pytest.approx(0.20)
    m = gb.marginal_rates(-15_000, 5_000, 0.37, 0.20)  # net short-term loss left over
    assert m[("LT", 1)] == pytest.approx(0.0)  # a long-term gain is free until the loss is used
    assert m[("ST", 1)] == pytest.approx(0.0)
    # per lot: a short-term loss lot gets the short-term rate when this year has ST gains
    st, lt = gb.lot_rates(np.array([True, False]), np.array([True, True]), 30_000, 0, 0.37, 0.20)
    assert st[0] == pytest.approx(0.37) and lt[1] == pytest.approx(0.37)


def test_optimizer_prices_a_loss_at_the_rate_it_offsets_this_year():
    """A long-term loss is worth the short-term rate once this year has short-term gains: with
    them the optimizer harvests it; without, the same lot is not worth its costs."""
    secs = [sec("EQ1", 100.0, "EQ", "US", 0.5), sec("EQ2", 100.0, "EQ", "US"),
            sec("FI1", 100.0, "FI", "BOND", 0.5)]
    lots = [lot("EQ1", 500, 104.0, lot_id="lt-loss"), lot("EQ1", 500, 100.0, lot_id="flat"),
            lot("FI1", 1000, 100.0)]
    st = OptimizerSettings(harvest_value="deferral", harvest_min_loss_pct=0.0, harvest_min_loss_dollars=0.0,
                           harvest_substitute_bps=10.0, ticket_cost=5.0)
    inp = account(secs, lots, lt_rate=0.05, st_rate=0.40)
    plain = optimize_account(inp, st)
    year = optimize_account(with_budget(inp, math.inf, ytd_st=50_000.0), st)
    check_invariants(inp, year)
    sold_plain = sum(sh for t in lines(plain, "SELL") for lid, sh in t.lots if lid == "lt-loss")
    sold_year = sum(sh for t in lines(year, "SELL") for lid, sh in t.lots if lid == "lt-loss")
    assert sold_plain == 0 and sold_year == 500


# --------------------------------------------------------------------------- budgets
def test_budget_holds_to_the_dollar_with_this_years_gains():
    inp = drifted()
    free = optimize_account(inp, EAGER)
    assert free.realized_gain > 40_000  # without a budget the rebalance realizes a lot
    for budget, ytd_st, ytd_lt in ((50_000, 12_000, 8_000), (30_000, -5_000, 0), (20_000, 0, 15_000)):
        b = with_budget(inp, budget, ytd_st, ytd_lt)
        res = optimize_account(b, EAGER)
        check_invariants(b, res)
        used = ytd_st + ytd_lt + res.realized_gain
        assert used <= budget + share_gain(b) + 1e-6
        assert res.budget["budget_used"] == pytest.approx(used)
        assert res.budget["budget_left"] == pytest.approx(budget - used)
        assert res.realized_gain > 0.8 * (budget - ytd_st - ytd_lt) - share_gain(b)  # uses its room
        assert "OVER_BUDGET" not in str(res.budget) and res.budget["over_budget"] == 0


def test_advisory_budget_is_flagged_not_enforced():
    inp = with_budget(drifted(), 10_000)
    res = optimize_account(inp, dataclasses.replace(EAGER, budget_hard=False))
    assert res.realized_gain > 40_000
    assert res.budget["over_budget"] == pytest.approx(res.realized_gain - 10_000)


def test_already_exceeded_budget_trades_only_its_mandates_and_is_flagged():
    secs = [sec("EQ1", 100.0, "EQ", "US", 0.5), sec("FI1", 100.0, "FI", "BOND", 0.5),
            sec("TOB", 50.0, "EQ", "TOB", must=True)]
    lots = [lot("EQ1", 6000, 50.0), lot("FI1", 2500, 100.0), lot("TOB", 200, 20.0, lot_id="tob")]
    # no mandate: nothing trades, never an infeasible solve
    plain = account(secs[:2], lots[:2])
    res = optimize_account(with_budget(plain, 10_000, ytd_lt=25_000), EAGER)
    assert res.status == "optimal" and res.trades == []
    assert res.budget["over_budget"] == pytest.approx(15_000)
    # a restriction: sold in full, nothing else; over by this year's gains plus its own gain
    inp = with_budget(account(secs, lots), 10_000, ytd_lt=25_000)
    res = optimize_account(inp, EAGER)
    check_invariants(inp, res)
    assert [(t.symbol, t.side, t.shares) for t in res.trades] == [("TOB", "SELL", 200)]
    assert res.budget["over_budget"] == pytest.approx(15_000 + 200 * 30)
    detail, reasons = {}, []
    gb.budget_notes(detail, reasons, res, False)
    assert detail["budget"]["over_budget"] == pytest.approx(21_000)
    assert reasons and reasons[0].startswith("OVER_BUDGET: $21,000 over the gains budget of $10,000")


def test_cash_request_exceeds_the_budget_only_by_what_it_needs():
    """$100,000 due; the budget has $2,000 left: the cash comes from the lots with the least
    gain per dollar (the loss lot, the 90-basis lot, then the 70-basis one, never the 40-basis
    one), and the excess over the budget is flagged with its amount."""
    secs = [sec("EQ1", 100.0, "EQ", "US", 0.5), sec("FI1", 100.0, "FI", "BOND", 0.5)]
    lots = [lot("EQ1", 3000, 40.0, lot_id="eq-40"), lot("EQ1", 300, 110.0, lot_id="eq-loss"),
            lot("FI1", 500, 90.0, lot_id="fi-90"), lot("FI1", 1500, 70.0, lot_id="fi-70")]
    inp = with_budget(account(secs, lots, cash=1_000.0, cash_needed=101_000.0), 20_000, ytd_lt=18_000)
    res = optimize_account(inp, EAGER)
    check_invariants(inp, res)
    assert res.cash_shortfall == 0.0
    sold = {lid: sh for t in lines(res, "SELL") for lid, sh in t.lots}
    assert sold.get("eq-loss") == 300 and sold.get("fi-90") == 500 and "eq-40" not in sold
    # the least gain that raises $100,000 and its costs: -3,000 + 5,000 + ~200 shares x $30
    fi70 = sold["fi-70"]
    assert 199 <= fi70 <= 202
    assert res.realized_gain == pytest.approx(-3_000 + 5_000 + fi70 * 30)
    assert res.budget["over_budget"] == pytest.approx(18_000 + res.realized_gain - 20_000)
    assert res.budget["over_budget"] == pytest.approx(6_000, abs=30 * 3)


def test_budget_row_is_never_infeasible():
    """Random hand-built books with budgets already used, restrictions and cash due: every solve
    is optimal and the budget holds unless a mandate needs more (then by at most its need)."""
    rng = np.random.default_rng(7)
    for _ in range(25):
        secs = [sec("A", 100.0, "EQ", "A", 0.4), sec("B", 50.0, "FI", "B", 0.4),
                sec("C", 80.0, "EQ", "C", 0.2, must=bool(rng.random() < 0.3))]
        lots = [lot(s, float(rng.integers(50, 800)), float(rng.uniform(20, 140)), short_term=bool(rng.random() < .5))
                for s in ("A", "A", "B", "B", "C")]
        need = float(rng.choice([0.0, 5_000.0, 40_000.0]))
        inp = with_budget(account(secs, lots, cash=float(rng.uniform(0, 3000)), cash_needed=need),
                          float(rng.uniform(0, 30_000)), ytd_lt=float(rng.uniform(-5_000, 40_000)))
        res = optimize_account(inp, EAGER)
        check_invariants(inp, res)
        b = res.budget
        own = b["budget_used"] - max(b["gains_budget"], inp.ytd_lt)  # beyond the budget or this year's
        if own > share_gain(inp) + 1e-6:
            assert inp.must_sell.any() or need > 0, (b, res.trades)
        if b["gains_budget"] < inp.ytd_lt and not inp.must_sell.any() and need == 0:
            assert res.trades == []  # used up: mandates only


def test_optimizer_names_the_lots_of_a_sale_tax_minimally_across_terms():
    """A sale of 100 shares from a $95 short-term lot (0.37 x $500 = $185) or a $93 long-term one
    (0.20 x $700 = $140): highest basis would take the short-term lot; the least tax is the
    long-term one."""
    secs = [sec("EQ1", 100.0, "EQ", "US", 0.5), sec("FI1", 100.0, "FI", "BOND", 0.5, can_sell=False)]
    lots = [lot("EQ1", 100, 95.0, short_term=True, lot_id="st-95"), lot("EQ1", 100, 93.0, lot_id="lt-93"),
            lot("FI1", 200, 100.0, lot_id="fi")]
    inp = account(secs, lots, cash=0.0, cash_needed=9_990.0)
    res = optimize_account(inp, EAGER)
    check_invariants(inp, res)
    (t,) = lines(res, "SELL", "EQ1")
    assert dict(t.lots) == {"lt-93": 100}
