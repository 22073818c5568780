"""Issue 23 in the lab: a cash-flow account never sells beyond its cash need plus rounding, checked
day by day from the executed trades (engine.lab.cash_flow_check) over a short simulation of a
sample book with cash-flow accounts; the long version is bench/lab_cash_flow.py."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from engine.lab import build_variants, simulate
from engine.lab.cash_flow_check import check_day


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    from engine.book.budget_sample import add_budgets
    from engine.book.importer import import_book
    from engine.book.sample import generate_sample
    from engine.lab import load_book
    from storage.db import make_engine

    work = tmp_path_factory.mktemp("cash_flow_lab")
    folder = work / "book"
    generate_sample(folder, accounts=30, seed=3)
    add_budgets(folder, cash_flow=0.5, seed=3)
    _ask_cash(folder)
    eng = make_engine(str(work / "book.db"))
    try:
        import_book(eng, work / "book", user="tester", as_of_ok=True)
        return load_book(eng)
    finally:
        eng.dispose()


def _ask_cash(folder):
    """Each cash-flow account asks for 6 % of its value, due in 1 to 4 days: needs to raise."""
    acc = pd.read_csv(folder / "accounts.csv", dtype={"trading_mode": str})
    lots = pd.read_csv(folder / "lots.csv")
    price = pd.read_csv(folder / "securities.csv").set_index("symbol")["price"]
    value = acc["cash"] + acc["account_id"].map(
        (lots["quantity"] * lots["symbol"].map(price).fillna(0)).groupby(lots["account_id"]).sum()).fillna(0)
    as_of = pd.Timestamp(json.loads((folder / "manifest.json").read_text())["as_of"])
    flow = acc[acc["trading_mode"] == "cash_flow"]
    with open(folder / "cash_requests.csv", "a", encoding="utf-8") as f:
        for k, a in enumerate(flow["account_id"]):
            amount = round(float(value[flow.index[k]]) * 0.06, -2)
            due = (as_of + pd.Timedelta(days=1 + k % 4)).date().isoformat()
            f.write(f"CF{k:03d},{a},{amount:.2f},{due},normal,test need\n")


def _run(book):
    (v,) = build_variants(book.policy, default=True)
    return simulate(book, [v], 5, seed=4, request_rate=0.15, workers=1).cash_flow


def test_cash_flow_accounts_sell_only_their_cash_need_over_a_simulation(book):
    cf = _run(book)
    flow = set(book.frames["accounts"].query("trading_mode == 'cash_flow'")["account_id"])
    assert set(cf["account_id"]) <= flow and len(flow) >= 10
    # the rule was exercised: cash-flow accounts had needs and sold to meet them
    sold = cf[(cf["need"] > 0) & (cf["sold"] > 0)]
    assert len(sold) >= 3, cf
    assert (cf["excess"] == 0).all(), cf[cf["excess"] > 0]


def test_the_check_finds_a_cash_flow_account_that_rebalances(book, monkeypatch):
    # break the rule: the engine no longer sees any account as cash-flow, so they rebalance
    import engine.decide.mandates as mandates

    monkeypatch.setattr(mandates, "account_modes", lambda acc, owed: pd.Series(False, index=acc.index).to_numpy())
    cf = _run(book)
    bad = cf[cf["excess"] > 0]
    assert len(bad) >= 1
    assert (bad["sold"] > bad["allowed"]).all()


def _frames(cash=1_000.0, owed=5_000.0, mode="cash_flow", restrictions=""):
    day = date(2026, 3, 2)
    return day, {
        "accounts": pd.DataFrame({"account_id": ["A"], "model_id": ["M"], "cash": [cash], "trading_mode": [mode],
                                  "restrictions": [restrictions]}),
        "securities": pd.DataFrame({"symbol": ["X", "Y"], "price": [100.0, 50.0], "tags": ["", "tobacco"]}),
        "model_weights": pd.DataFrame({"model_id": ["M", "M", "M"], "symbol": ["X", "Y", "CASH"],
                                       "weight": [0.6, 0.38, 0.02]}),
        "lots": pd.DataFrame({"account_id": ["A", "A"], "lot_id": ["1", "2"], "symbol": ["X", "Y"],
                              "quantity": [600.0, 400.0]}),
        "cash_requests": pd.DataFrame({"request_id": ["R"], "account_id": ["A"], "amount": [owed],
                                       "due_date": ["2026-03-06"]}),
    }


def _sells(*lines):
    rows = [dict(account_id="A", symbol=s, side="SELL", shares=q, price=p, value=q * p, line=n)
            for n, (s, q, p) in enumerate(lines)]
    return pd.DataFrame(rows)


def test_cash_need_keeps_model_cash_and_allows_one_share_and_costs_per_line():
    day, f = _frames(cash=1_000.0, owed=5_000.0)  # value $81,000: model cash $1,620 > cash held
    ok = check_day(f, day, _sells(("X", 51, 100.0)), cost_bps=5, ticket_cost=1, horizon_days=10)
    assert ok["need"].iloc[0] == pytest.approx(5_000.0) and ok["excess"].iloc[0] == 0
    over = check_day(f, day, _sells(("X", 53, 100.0)), cost_bps=5, ticket_cost=1, horizon_days=10)
    # allowed: ($5,000 + $1 ticket) / (1 - 5 bp) + one $100 share = $5,103.50
    assert over["allowed"].iloc[0] == pytest.approx(5_103.50, abs=0.01)
    assert over["excess"].iloc[0] == pytest.approx(5_300 - 5_103.50, abs=0.01)


def test_restricted_sales_are_allowed_and_count_toward_the_need():
    day, f = _frames(cash=1_000.0, owed=5_000.0, restrictions="tag:tobacco")
    r = check_day(f, day, _sells(("Y", 400, 50.0)), cost_bps=5, ticket_cost=1, horizon_days=10)
    assert r["restricted_sold"].iloc[0] == 20_000.0 and r["excess"].iloc[0] == 0
    # the restricted sale raised the need: a further sale is beyond it
    r = check_day(f, day, _sells(("Y", 400, 50.0), ("X", 10, 100.0)), cost_bps=5, ticket_cost=1, horizon_days=10)
    assert r["excess"].iloc[0] > 800


def test_a_request_beyond_the_horizon_or_a_full_mode_account_is_no_need():
    day, f = _frames(cash=1_000.0, owed=5_000.0)
    f["cash_requests"]["due_date"] = ["2026-03-20"]  # 18 days out, horizon 10
    r = check_day(f, day, _sells(("X", 10, 100.0)), cost_bps=5, ticket_cost=1, horizon_days=10)
    assert r["need"].iloc[0] == 0 and r["excess"].iloc[0] > 800
    day, f = _frames(mode="full")
    assert check_day(f, day, _sells(("X", 100, 100.0)), cost_bps=5, ticket_cost=1, horizon_days=10).empty
