"""The per-security tracking term where selling costs no tax (engine/decide/optimizer/tax_free.py):
it moves a holding that sells without tax toward the model and leaves a taxed one; at zero it is
today's optimizer exactly; its QP has the optimum of the cvxpy statement."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.core.policy import default_policy, policy_from_dict
from engine.core.tasks import RefusedError
from engine.decide import optimizer as opt
from engine.decide.inputs import optimizer_settings
from engine.decide.optimizer import OptimizerSettings, optimize_account
from test_optimizer import account, balanced, check_invariants, harvest_account, lines, lot, random_account, sec

SETTINGS = OptimizerSettings()
FREE = replace(SETTINGS, own_vol_free=0.06, tradeoff_lambda=3.0)


def substitute_account(unit_cost: float, taxable: bool = True, model_can_buy: bool = True):
    """Holds ITOT (the substitute of the model's VTI, same group) instead of VTI: the
    substitute's lot at ``unit_cost`` against a price of 100."""
    secs = [sec("VTI", 100.0, "EQ", "US", 0.58, can_buy=model_can_buy), sec("ITOT", 100.0, "EQ", "US"),
            sec("AGG", 100.0, "FI", "BOND", 0.40)]
    return account(secs, [lot("ITOT", 5800, unit_cost), lot("AGG", 4000, 100.0)], cash=20_000.0,
                   model_cash=0.02, taxable=taxable)


def test_the_term_swaps_a_substitute_that_sells_without_tax_back_to_the_model_security():
    inp = substitute_account(100.0)  # at zero gain: free to sell, and no harvest candidate
    assert optimize_account(inp, SETTINGS).trades == []  # without the term: a perfect stand-in
    res = optimize_account(inp, FREE)
    check_invariants(inp, res)
    (sell,) = lines(res, "SELL", "ITOT")
    (buy,) = lines(res, "BUY", "VTI")
    assert sell.shares > 5000 and buy.shares > 5000
    assert res.tax_cost == 0.0  # nothing taxed was sold
    assert res.drift_benefit > res.trading_cost and res.score > 0


def test_the_term_leaves_a_taxed_substitute_alone():
    inp = substitute_account(40.0)  # a 60 % gain: selling it is taxed
    assert optimize_account(inp, FREE).trades == []
    # the symmetric term (own_vol) does charge it, and sells the gain when drift outweighs tax
    res = optimize_account(inp, replace(SETTINGS, own_vol=0.06, tradeoff_lambda=30.0))
    assert lines(res, "SELL", "ITOT") and res.tax_cost > 0


def test_a_harvest_is_not_charged_for_its_substitute_nor_is_the_wash_sale_window():
    """The harvest's substitute has no model security to go back to on the harvest's day (the
    direction rule) nor while the loss security cannot be bought back: not charged."""
    inp = harvest_account()
    ref = optimize_account(inp, replace(SETTINGS, tradeoff_lambda=3.0))
    res = optimize_account(inp, FREE)
    check_invariants(inp, res)
    assert lines(res, "SELL", "VTI") and lines(res, "BUY", "ITOT")
    assert [(t.symbol, t.side, t.shares) for t in res.trades] == [
        (t.symbol, t.side, t.shares) for t in ref.trades]
    blocked = substitute_account(100.0, model_can_buy=False)  # VTI sold at a loss lately
    assert opt._no_trade_is_optimal(opt._prepare(blocked, FREE))
    assert optimize_account(blocked, FREE).trades == []


def test_only_the_free_part_of_a_holding_is_sold():
    """A substitute held half at a gain, half at zero gain: the free half is sold, the taxed
    half stays."""
    secs = [sec("VTI", 100.0, "EQ", "US", 0.58), sec("ITOT", 100.0, "EQ", "US"),
            sec("AGG", 100.0, "FI", "BOND", 0.40)]
    inp = account(secs, [lot("ITOT", 2900, 40.0, lot_id="gain"), lot("ITOT", 2900, 100.0, lot_id="free"),
                         lot("AGG", 4000, 100.0)], cash=20_000.0, model_cash=0.02)
    res = optimize_account(inp, FREE)
    check_invariants(inp, res)
    (sell,) = lines(res, "SELL", "ITOT")
    assert dict(sell.lots).get("gain", 0) == 0 and dict(sell.lots)["free"] > 2000
    assert res.tax_cost == 0.0
    assert lines(res, "BUY", "VTI")


def test_a_loss_within_the_free_tax_bps_counts_as_free():
    """A small gain is free when its tax is at most free_tax_bps of the lot."""
    inp = substitute_account(99.0)  # 1 % gain x 20 % LT rate = 20 bps of tax
    assert optimize_account(inp, FREE).trades == []
    res = optimize_account(inp, replace(FREE, free_tax_bps=25.0))
    assert lines(res, "SELL", "ITOT") and 0 < res.tax_cost < 0.0021 * 580_000


def test_untaxed_vol_applies_only_where_no_tax_is_paid():
    ira = substitute_account(40.0, taxable=False)
    st = replace(SETTINGS, own_vol_untaxed=0.06, tradeoff_lambda=3.0)
    res = optimize_account(ira, st)
    ref = optimize_account(ira, replace(SETTINGS, own_vol=0.06, tradeoff_lambda=3.0))
    assert lines(res, "SELL", "ITOT") and lines(res, "BUY", "VTI")
    assert [(t.symbol, t.side, t.shares) for t in res.trades] == [
        (t.symbol, t.side, t.shares) for t in ref.trades]
    # a taxable account: untouched by it
    assert optimize_account(substitute_account(100.0), st).trades == []


def test_zero_weights_give_todays_proposals_exactly():
    rng = np.random.default_rng(16)
    book = [harvest_account(), account(*balanced()[:2], cash_needed=50_000.0, model_cash=0.02),
            substitute_account(100.0), substitute_account(40.0, taxable=False)]
    book += [random_account(rng, i) for i in range(40)]
    zero = replace(SETTINGS, own_vol_free=0.0, own_vol_untaxed=0.0, free_tax_bps=50.0)
    for inp in book:
        a, b = optimize_account(inp, SETTINGS), optimize_account(inp, zero)
        assert a.trades == b.trades and a.score == b.score and a.te_post == b.te_post
        pa, pb = opt._prepare(inp, SETTINGS), opt._prepare(inp, zero)
        if pa.V > 0:
            qa, qb = opt._build_qp(pa, SETTINGS), opt._build_qp(pb, zero)
            assert qa.n == qb.n and np.array_equal(qa.c, qb.c) and qa.Gm.shape == qb.Gm.shape


def test_assembled_qp_with_the_term_matches_cvxpy():
    """The free term's variables and rows give the optimum of the cvxpy statement (cp.pos)."""
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(5)
    book = [harvest_account(), substitute_account(100.0), substitute_account(40.0),
            account(*balanced()[:2], cash_needed=50_000.0, model_cash=0.02),
            account(*balanced()[:2], cash=300_000.0, model_cash=0.02)]  # free cash above the model's
    book += [random_account(rng, i) for i in range(10)]
    checked = 0
    for st in (FREE, replace(FREE, own_vol=0.03, free_tax_bps=30.0, tradeoff_lambda=1.0)):
        for inp in book:
            p = opt._prepare(inp, st)
            if p.V <= 0:
                continue
            q = opt._build_qp(p, st)
            assert q.n == len(q.c) == len(q.xl) == q.A.shape[1] == q.Gm.shape[1] == q.P.shape[0]
            assert q.Gm.shape[0] == len(q.hl) == len(q.hu)
            z = opt._Session(q, st).solve(q.xl, q.xu)
            value = 0.5 * z @ (q.P @ z) + q.c @ z
            prob, _, _ = opt.build_cvxpy_problem(inp, st)
            prob.solve(solver="CLARABEL")
            assert value == pytest.approx(prob.value, abs=1e-6)
            checked += p.fs > 0
    assert checked >= 10  # taxable accounts with the term on


def test_the_no_trade_certificate_sees_the_term():
    """A free overweight is a reason to trade: the certificate does not skip the solve."""
    inp = substitute_account(100.0)
    assert opt._no_trade_is_optimal(opt._prepare(inp, SETTINGS))
    assert not opt._no_trade_is_optimal(opt._prepare(inp, FREE))
    assert opt._no_trade_is_optimal(opt._prepare(substitute_account(40.0), FREE))


def test_policy_fields_reach_the_optimizer_and_are_validated():
    pol = default_policy()
    data = pol.model_dump(mode="json", exclude_none=True)
    data["trading"].update(security_vol_untaxed=0.05, security_vol_free=0.07, free_tax_bps=12.5)
    s = optimizer_settings(policy_from_dict(data))
    assert (s.own_vol_untaxed, s.own_vol_free, s.free_tax_bps) == (0.05, 0.07, 12.5)
    data["trading"]["security_vol_free"] = -0.1
    with pytest.raises(RefusedError, match=r"trading\.security_vol_free: .*greater than or equal to 0"):
        policy_from_dict(data)
