"""Issue 23: the raise-cash helper (manual ACCOUNT --raise AMOUNT, "Suggest sells") and the
tax-minimal lot naming it shares with the optimizer. The tax-minimal choice is computed
independently here: a brute force over the lots' takes (in steps of 50 shares) with its own
netting of short- and long-term gains."""
from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.book.lot_choice import name_lots
from engine.desk.raise_cash import plan_raise

AS_OF = date(2026, 11, 20)
ST, LT = 0.37, 0.20
# one fund at $100: long- and short-term lots at gains and losses (all multiples of 50 shares)
LOTS = pd.DataFrame([
    ("L1", "FUND", 400, 60.0, "2019-03-01"),   # LT gain $40
    ("L2", "FUND", 300, 95.0, "2021-05-01"),   # LT gain $5
    ("L3", "FUND", 200, 120.0, "2026-06-10"),  # ST loss $20
    ("L4", "FUND", 250, 110.0, "2022-01-05"),  # LT loss $10
    ("L5", "FUND", 300, 90.0, "2026-02-01"),   # ST gain $10
    ("L6", "FUND", 250, 70.0, "2026-04-01"),   # ST gain $30
], columns=["lot_id", "symbol", "quantity", "unit_cost", "acquired_date"])
PRICES = {"FUND": 100.0}


def netted_tax(st: float, lt: float) -> float:
    """Independent: net ST and LT separately, then a net loss of one against the other's gain."""
    if st < 0 < lt:
        lt, st = lt + st, 0.0
        lt = max(lt, 0.0)
    elif lt < 0 < st:
        st, lt = st + lt, 0.0
        st = max(st, 0.0)
    return max(st, 0.0) * ST + max(lt, 0.0) * LT


def brute_force_min(lots: pd.DataFrame, shares: int, ytd_st=0.0, ytd_lt=0.0) -> float:
    short = pd.to_datetime(lots["acquired_date"]) > pd.Timestamp("2025-11-20")
    gain = 100.0 - lots["unit_cost"].to_numpy()
    best = np.inf
    for takes in itertools.product(*[range(0, int(q) + 1, 50) for q in lots["quantity"]]):
        if sum(takes) != shares:
            continue
        t = np.array(takes, float)
        st = ytd_st + float((t * gain)[short.to_numpy()].sum())
        lt = ytd_lt + float((t * gain)[~short.to_numpy()].sum())
        best = min(best, netted_tax(st, lt) - netted_tax(ytd_st, ytd_lt))
    return best


def fifo_tax(lots: pd.DataFrame, shares: int) -> float:
    srt = lots.sort_values("acquired_date")
    st = lt = 0.0
    left = shares
    for r in srt.itertuples(index=False):
        t = min(left, r.quantity)
        g = t * (100.0 - r.unit_cost)
        if pd.Timestamp(r.acquired_date) > pd.Timestamp("2025-11-20"):
            st += g
        else:
            lt += g
        left -= t
    return netted_tax(st, lt)


@pytest.mark.parametrize("ytd_st, ytd_lt", [(0.0, 0.0), (15_000.0, 0.0), (-6_000.0, 20_000.0)])
def test_100k_raise_is_tax_minimal_for_the_shares_sold(ytd_st, ytd_lt):
    plan = plan_raise(100_000.0, LOTS, PRICES, AS_OF, taxable=True, st_rate=ST, lt_rate=LT,
                      ytd_st=ytd_st, ytd_lt=ytd_lt)
    shares = int(plan.lines["shares"].sum())
    assert shares == 1000 and plan.raised == pytest.approx(100_000.0)
    tax = plan.tax(ST, LT, ytd_st, ytd_lt)
    best = brute_force_min(LOTS, shares, ytd_st, ytd_lt)
    assert tax <= best + 0.01, (tax, best, plan.lines)
    if ytd_st == ytd_lt == 0:
        assert tax < 0.5 * fifo_tax(LOTS, shares)


def test_wash_sale_blocks_the_loss_lots_of_a_fund_bought_21_days_ago():
    lots = pd.concat([LOTS, pd.DataFrame([("L7", "FUND", 50, 104.0, "2026-10-30")], columns=LOTS.columns)],
                     ignore_index=True)
    plan = plan_raise(100_000.0, lots, PRICES, AS_OF, taxable=True, st_rate=ST, lt_rate=LT,
                      recent_buys={"FUND"})
    sold = dict(zip(plan.lines["lot_id"], plan.lines["shares"]))
    assert not {"L3", "L4", "L7"} & set(sold)  # no loss lot of the fund
    assert any("wash-sale" in w for w in plan.left_out)
    usable = lots[~lots["lot_id"].isin(["L3", "L4", "L7"])]
    best = brute_force_min(usable, int(plan.lines["shares"].sum()))
    assert plan.tax(ST, LT) <= best + 0.01


def test_cushion_halts_and_held_quantities():
    lots = pd.concat([LOTS, pd.DataFrame([("H1", "HALT", 500, 10.0, "2020-01-01"),
                                          ("B1", "BOND", 400, 99.0, "2020-01-01")], columns=LOTS.columns)],
                     ignore_index=True)
    prices = {"FUND": 100.0, "HALT": 50.0, "BOND": 100.0}
    plan = plan_raise(100_000.0, lots, prices, AS_OF, taxable=True, st_rate=ST, lt_rate=LT,
                      held={"FUND": 900, "BOND": 400, "HALT": 500}, frozen={"HALT"}, cushion_pct=2.0)
    assert plan.target == pytest.approx(102_000.0)
    assert plan.raised >= 102_000.0 and plan.raised < 102_000.0 + 100.0  # the need plus a share
    per_sym = plan.lines.groupby("symbol")["shares"].sum().to_dict()
    assert "HALT" not in per_sym and per_sym["FUND"] <= 900
    assert any("halted" in w for w in plan.left_out) and any("at most 900" in w for w in plan.left_out)
    trades = plan.trades()
    assert all(t.side == "SELL" and t.lot_id for t in trades)
    assert sum(t.quantity for t in trades) == int(plan.lines["shares"].sum())


def test_bad_amount_is_refused():
    from engine.core.tasks import RefusedError

    for bad in (0, -5, float("nan")):
        with pytest.raises(RefusedError, match="amount to raise"):
            plan_raise(bad, LOTS, PRICES, AS_OF, taxable=True)


def test_name_lots_prefers_long_term_gains_over_short_term_ones():
    """Losses first, then highest basis ignores the term: 100 shares from a $95 short-term lot
    cost 0.37 x $500; from a $90 long-term lot 0.20 x $1,000 = more, so the short-term; with
    a $93 long-term lot (0.20 x $700 = $140 < $185) the long-term one."""
    short = np.array([True, False])
    take = name_lots(100, np.array([100, 100]), np.array([95.0, 90.0]), 100.0, short, ST, LT)
    assert take.tolist() == [100, 0]
    take = name_lots(100, np.array([100, 100]), np.array([95.0, 93.0]), 100.0, short, ST, LT)
    assert take.tolist() == [0, 100]
