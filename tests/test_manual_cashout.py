"""Manual cash-outs do the arithmetic a desk expects, and the tier cannot be dodged by missing
data (issue 13, items 5 and 9), on SQLite and PostgreSQL."""
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select

import main
from bookkit import BASE, write_book
from dbkit import content_digest
from engine.desk import views
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, check_manual_trades, enter_manual_trades, manual_context, parse_quantity
from engine.core.tasks import RefusedError
from engine.decide.workflow import proposals_frame, run_workflow
from storage import models as m

# A2 (INCOME: 2% model cash, 3,000 BBB at $20) suspended by a reconciliation break
RECON = ["account_id,symbol,quantity", "A1,AAA,600", "A1,BBB,1500", "A2,BBB,3500", "A3,AAA,300", "A3,TOB,100",
         "A3,BBB,800"]
HIGH = ["request_id,account_id,amount,due_date,priority,note", "CR7,A2,{amount},2026-11-21,high,wire"]


def a2_book(folder, cash=1000, amount=30000, group="", as_of="2026-11-20", recon=True):
    accounts = [line if not line.startswith("A2,") else f"A2,Jones IRA,INCOME,FIDELITY,{cash},false,,,,,{group}"
                for line in BASE["accounts.csv"]]
    changes = {"accounts.csv": accounts,
               "cash_requests.csv": [HIGH[0], HIGH[1].format(amount=amount)]}
    if recon:
        changes["custodian_positions.csv"] = RECON
    if as_of != "2026-11-20":
        changes["securities.csv"] = [line.replace("2026-11-20", as_of) for line in BASE["securities.csv"]]
        changes["feeds.csv"] = [line.replace("2026-11-20", as_of) for line in BASE["feeds.csv"]]
    return write_book(folder, as_of=as_of, changes=changes)


def latest(engine, account="A2") -> dict:
    with engine.connect() as conn:
        return proposals_frame(conn).set_index("account_id").loc[account].to_dict()


def suspended_row(engine, account="A2") -> dict:
    df = views.suspended_accounts(engine)
    return df.set_index("account_id").loc[account].to_dict()


# ----------------------------------------------------------------------------- cash-out arithmetic
def test_an_account_already_holding_the_requested_cash_is_never_short(engine, tmp_path):
    import_book(engine, a2_book(tmp_path / "b", cash=20000, amount=5000), user="ops")
    run_workflow(engine, workers=1, user="sched")
    p = latest(engine)
    assert p["category"] == "SUSPENDED" and not p["urgent"]  # the cash is there: nothing to trade by hand
    value = 20000 + 3000 * 20.0
    chk = check_manual_trades(engine, "A2", [], "CR7")
    assert chk.cash_requested == pytest.approx(5000.0)
    assert chk.model_cash == pytest.approx(0.02 * value)
    assert chk.cash_available == pytest.approx(20000 - 0.02 * value)
    assert chk.cash_entered == 0.0 and chk.cash_raised == 0.0
    assert chk.covered and chk.short == 0.0
    row = suspended_row(engine)
    assert not row["urgent"] and row["cash_out"] == "covered by the account's cash"


def test_the_request_is_measured_after_model_cash(engine, tmp_path):
    """$3,000 cash, 2% of a $63,000 account is model cash: $1,740 spare against $5,000."""
    import_book(engine, a2_book(tmp_path / "b", cash=3000, amount=5000), user="ops")
    run_workflow(engine, workers=1, user="sched")
    assert latest(engine)["urgent"]
    chk = check_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 150)], "CR7")
    assert chk.cash_available == pytest.approx(3000 - 0.02 * 63000)
    assert chk.cash_raised == pytest.approx(3000.0)
    assert chk.short == pytest.approx(5000 - 4740.0) and not chk.covered
    chk = check_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 163)], "CR7")
    assert chk.covered and chk.cash_total == pytest.approx(1740 + 3260.0)
    # below model cash there is nothing spare (the request is not asked to restore model cash)
    import_book(engine, a2_book(tmp_path / "c", cash=1000, amount=5000, as_of="2026-11-21"), user="ops")
    chk = check_manual_trades(engine, "A2", [], "CR7")
    assert chk.cash_available == 0.0 and chk.short == pytest.approx(5000.0)


@pytest.mark.parametrize("group, waiting", [("", "awaiting export"), ("UHNW", "awaiting approval")])
def test_entered_trades_cover_the_request_and_the_reopened_account_raises_nothing_more(engine, tmp_path, group,
                                                                                        waiting):
    import_book(engine, a2_book(tmp_path / "d1", group=group), user="ops")
    run_workflow(engine, workers=1, user="sched")
    assert latest(engine)["urgent"]
    assert suspended_row(engine)["urgent"]
    assert views.today(engine)["n_urgent"] == 1
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 500)], user="ops", request_id="CR7")
    row = suspended_row(engine)  # a part entered: still urgent, and says what is left
    assert row["urgent"] and row["cash_out"] == "$20,000.00 still to raise (trades entered: $10,000.00)"
    enter_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 1000)], user="ops", request_id="CR7")
    row = suspended_row(engine)
    assert not row["urgent"] and row["cash_out"] == f"cash-out entered, {waiting}"
    today = views.today(engine)
    assert today["n_urgent"] == 0 and not len(today["urgent"]) and today["badges"]["Today"][0] == 0
    chk = check_manual_trades(engine, "A2", [], "CR7")
    assert chk.cash_entered == pytest.approx(30000.0) and chk.entered == {waiting: pytest.approx(30000.0)}
    assert chk.covered
    # another line on top is measured with them: not needed, never "short"
    chk = check_manual_trades(engine, "A2", [ManualTrade("BBB", "SELL", 10)], "CR7")
    assert chk.covered and chk.cash_total == pytest.approx(30000.0 + 200.0 + max(1000 - 0.02 * 61000, 0.0))

    # day 2: the reconciliation break is fixed (the account reopens); the entered trades are not
    # in the book yet: the run neither raises the cash again nor calls the account urgent
    import_book(engine, a2_book(tmp_path / "d2", group=group, as_of="2026-11-21", recon=False), user="ops")
    run_workflow(engine, workers=1, user="sched")
    p = latest(engine)
    assert p["category"] != "SUSPENDED" and not p["urgent"]
    assert "cash" not in (p["mandates"] or "")
    with engine.connect() as conn:
        sells = conn.execute(select(m.Trade.quantity).where(
            m.Trade.account_id == "A2", m.Trade.side == "SELL", m.Trade.category != "MANUAL")).all()
    assert sum(q for (q,) in sells) * 20.0 < 30000.0 / 2  # not raised a second time
    chk = check_manual_trades(engine, "A2", [], "CR7")
    assert chk.covered and chk.entered == {waiting: pytest.approx(30000.0)}


# ----------------------------------------------------------------------------- quantities and symbols
@pytest.mark.parametrize("text", ["1.5", "12.5abc-", "0", "-3", "", " ", "+3", "1e3", "1_000", "3.0", "1,23",
                                  "١٢", "12 5", "0x10", "00"])
def test_a_quantity_that_is_not_whole_positive_shares_is_refused_naming_the_field(text):
    with pytest.raises(RefusedError) as exc:
        parse_quantity(text, "line 1 quantity")
    assert str(exc.value).startswith("line 1 quantity: ")


@pytest.mark.parametrize("text, q", [("1", 1), ("1200", 1200), ("1,200", 1200), (" 75 ", 75), ("1,000,000", 1000000)])
def test_whole_positive_quantities_are_read_as_typed(text, q):
    assert parse_quantity(text) == q


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=8))
def test_parse_quantity_never_reinterprets(text):
    """Either the text is exactly a positive whole number (digits, optionally grouped by
    commas) and that number comes back, or it is refused."""
    try:
        q = parse_quantity(text)
    except RefusedError:
        return
    raw = text.strip()
    assert q > 0 and str(q) == raw.replace(",", "").lstrip("0") and raw.isascii()


def test_cli_refuses_a_fractional_quantity_and_changes_nothing(engine, db_path, tmp_path, capsys):
    import_book(engine, a2_book(tmp_path / "b"), user="ops")
    before = content_digest(db_path)
    for bad in ("1.5", "12.5abc-", "0", "-3"):
        assert main.main(["manual", "A2", "--trade", f"SELL:BBB:{bad}", "--db", db_path]) == 2
        err = capsys.readouterr().err
        assert "QUANTITY" in err and repr(bad) in err
    assert content_digest(db_path) == before


def test_cli_prints_the_cash_out_arithmetic(engine, db_path, tmp_path, capsys):
    import_book(engine, a2_book(tmp_path / "b", cash=3000, amount=5000), user="ops")
    assert main.main(["manual", "A2", "--trade", "SELL:BBB:100", "--request", "CR7", "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert ("cash for request CR7: $3,740.00 of $5,000.00 (cash above model cash $1,740.00 + trades entered "
            "before $0.00 + these $2,000.00) — $1,260.00 short") in out
    assert main.main(["manual", "A2", "--trade", "SELL:BBB:63", "--request", "CR7", "--db", db_path]) == 0
    assert "$5,000.00 of $5,000.00 (cash above model cash $1,740.00 + trades entered before $2,000.00 + these " \
           "$1,260.00) — covered" in capsys.readouterr().out


def test_unknown_symbols_buy_refused_sell_says_unknown(engine, tmp_path):
    import_book(engine, a2_book(tmp_path / "b"), user="ops")
    chk = check_manual_trades(engine, "A2", [ManualTrade("ZZZ", "BUY", 5)])
    assert chk.errors == ["line 1 (BUY 5 ZZZ): symbol ZZZ is not in the security master"]
    chk = check_manual_trades(engine, "A2", [ManualTrade("ZZZ", "SELL", 5)])
    assert len(chk.errors) == 1 and "unknown symbol ZZZ" in chk.errors[0] and "holds 0" not in chk.errors[0]
    with pytest.raises(RefusedError, match="symbol ZZZ is not in the security master"):
        enter_manual_trades(engine, "A2", [ManualTrade("ZZZ", "BUY", 5)], user="ops")
    # a known symbol the account does not hold can be bought (the cash permitting)
    assert check_manual_trades(engine, "A2", [ManualTrade("AAA", "BUY", 5)]).ok
    with engine.connect() as conn:
        assert conn.execute(select(m.Trade.id)).first() is None


# ----------------------------------------------------------------------------- the tier of missing data
BIG = {"accounts.csv": [line if not line.startswith("A1,") else
                        "A1,Whale Trust,GROWTH,SCHWAB,700000,true,0.37,0.20,2026-06-01,,"
                        for line in BASE["accounts.csv"]],
       "lots.csv": [line for line in BASE["lots.csv"] if not line.startswith("A1,")]
       + ["A1,L1,AAA,250000,80.00,2020-01-15", "A1,L3,BBB,150000,21.00,2023-03-01"],
       "custodian_positions.csv": [line for line in BASE["custodian_positions.csv"] if not line.startswith("A1,")]
       + ["A1,AAA,250000", "A1,BBB,150000"]}


def test_an_account_whose_largest_holding_lost_its_price_keeps_its_tier(engine, db_path, tmp_path):
    """$28.7M: 250,000 AAA at $100 (its price is missing on day 2), 150,000 BBB at $20, $0.7M cash."""
    import_book(engine, write_book(tmp_path / "d1", changes=BIG), user="ops")
    run_workflow(engine, workers=1, user="sched")
    assert latest(engine, "A1")["tier"] == "UHNW"
    day2 = dict(BIG)
    day2["securities.csv"] = [line.replace("2026-11-20", "2026-11-21").replace("AAA,Alpha Corp,US Equity,100.00",
                                                                               "AAA,Alpha Corp,US Equity,")
                              for line in BASE["securities.csv"]]
    day2["feeds.csv"] = [line.replace("2026-11-20", "2026-11-21") for line in BASE["feeds.csv"]]
    import_book(engine, write_book(tmp_path / "d2", as_of="2026-11-21", changes=day2), user="ops")
    run_workflow(engine, workers=1, user="sched")
    p = latest(engine, "A1")
    assert p["category"] == "SUSPENDED" and "MISSING_PRICE" in p["reasons"]
    assert p["tier"] == "UHNW" and p["value"] == pytest.approx(28_700_000.0)
    assert p["tier_basis"] == "valued with last known price of AAA ($100.00 on 2026-11-20)"
    assert suspended_row(engine, "A1")["tier_basis"] == p["tier_basis"]
    assert views.account_reasons(engine, "A1")["tier_basis"] == p["tier_basis"]
    assert main.main(["report", "--db", db_path, "--out", str(tmp_path / "r.csv")]) == 0
    report = pd.read_csv(tmp_path / "r.csv").set_index("account_id")
    assert report.at["A1", "tier"] == "UHNW" and report.at["A1", "tier_basis"] == p["tier_basis"]
    # the manual cash-out of that account needs a second approval (four-eyes on UHNW)
    ctx = manual_context(engine, "A1")
    assert ctx["tier"] == "UHNW" and ctx["four_eyes"] and ctx["value"] == pytest.approx(28_700_000.0)
    [tid] = enter_manual_trades(engine, "A1", [ManualTrade("BBB", "SELL", 1000)], user="ops")
    with engine.connect() as conn:
        status = conn.execute(select(m.Trade.status).where(m.Trade.id == tid)).scalar()
    assert status == "PENDING_APPROVAL"


def test_a_never_priced_holding_is_valued_at_cost(engine, tmp_path):
    """No earlier book priced it: its cost basis keeps it in the tier."""
    day = dict(BIG)
    day["securities.csv"] = [line.replace("AAA,Alpha Corp,US Equity,100.00", "AAA,Alpha Corp,US Equity,")
                             for line in BASE["securities.csv"]]
    import_book(engine, write_book(tmp_path / "d1", changes=day), user="ops")
    run_workflow(engine, workers=1, user="sched")
    p = latest(engine, "A1")
    assert p["value"] == pytest.approx(700_000 + 250_000 * 80.0 + 150_000 * 20.0)
    assert p["tier"] == "Premier" and "cost basis of AAA ($20,000,000.00; no price known)" in p["tier_basis"]
    assert manual_context(engine, "A1")["tier"] == "Premier"
