"""Households: one wash-sale group across a family's accounts (IRS Publication 550's wash-sale
examples re-authored as our own data), identical groups, coverage when a member is missing."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from bookkit import eager_policy, write_book
from engine.decide import household_wash as hw
from engine.book.book import BookError, read_book
from engine.decide.workflow import decide

AS_OF = date(2026, 11, 20)
SEC = ["symbol,name,asset_class,price,price_date,tags,rating,substitute_group,identical_group",
       "AAA,Alpha Fund Investor,US Equity,100.00,2026-11-20,,3,SG1,ALPHA",
       "AAC,Alpha Fund Admiral,US Equity,100.00,2026-11-20,,3,SG1,ALPHA",
       "AAB,Alpha Twin,US Equity,50.00,2026-11-20,,4,SG1,",
       "BBB,Beta Bonds,US Bonds,20.00,2026-11-20,,2,,",
       "OIL,Oil Co,US Equity,80.00,2026-11-20,energy,5,,"]
ACC_HEAD = "account_id,name,model_id,custodian,cash,taxable,st_rate,lt_rate,last_trade_date,restrictions,group,household_id"
# the Smiths: a joint taxable account and the spouse's IRA (all cash: it wants the model's AAA)
ACC = [ACC_HEAD,
       "J1,Smith Joint,GROWTH,SCHWAB,2000,true,0.37,0.20,2026-06-01,,,SMITH",
       "I1,Smith IRA,GROWTH,FIDELITY,60000,false,,,,,,SMITH"]
LOTS = ["account_id,lot_id,symbol,quantity,unit_cost,acquired_date",
        "J1,L1,AAA,500,160.00,2024-01-15", "J1,L2,BBB,1500,20.00,2023-03-01", "J1,L3,OIL,60,80,2023-03-01"]
POS = ["account_id,symbol,quantity", "J1,AAA,500", "J1,BBB,1500", "J1,OIL,60"]
TX = ["account_id,symbol,trade_date,side,quantity,price,realized_gain"]
NO_CASH = ["request_id,account_id,amount,due_date,priority,note"]


def _book(tmp_path, accounts=ACC, lots=LOTS, pos=POS, tx=(), sec=SEC, name="book", as_of=None, cash=NO_CASH):
    if as_of:
        sec = [line.replace(AS_OF.isoformat(), as_of) for line in sec]
    folder = write_book(tmp_path / name, as_of=as_of or AS_OF.isoformat(), changes={
        "securities.csv": sec, "accounts.csv": accounts, "lots.csv": lots, "custodian_positions.csv": pos,
        "transactions.csv": TX + list(tx), "cash_requests.csv": cash,
        "feeds.csv": ["custodian,file_date,status"] + [f"{c},{as_of or AS_OF.isoformat()},ok"
                                                       for c in ("SCHWAB", "FIDELITY", "VANGUARD")]})
    return read_book(folder)


def _day(n: int) -> str:
    return (AS_OF - timedelta(days=n)).isoformat()


def _decide(book, **kw):
    return decide(book.frames, book.as_of, eager_policy(), **kw)


def _bought(d, account):
    return {t.symbol for t in d.results[account].trades if t.side == "BUY"}


def _loss_sold(d, book, account):
    cost = {(a, lot): c for a, lot, c in zip(book["lots"]["account_id"], book["lots"]["lot_id"],
                                              book["lots"]["unit_cost"])}
    return {t.symbol for t in d.results[account].trades
            if t.side == "SELL" and any(cost[(account, lot)] > t.est_price for lot, _ in t.lots)}


# --------------------------------------------------------------------------- the book contract
def test_household_and_identical_group_are_read_and_blank_means_own(tmp_path):
    accounts = ACC + ["X1,Solo,GROWTH,SCHWAB,1000,true,0.37,0.20,,,,"]
    book = _book(tmp_path, accounts=accounts)
    hh = hw.household_of(book["accounts"])
    assert hh["J1"] == hh["I1"] == "H:SMITH" and hh["X1"] == "A:X1"
    ident = hw.identical_of(book["securities"])
    assert ident["AAA"] == ident["AAC"] == "G:ALPHA" and ident["AAB"] == "S:AAB"


def test_book_without_the_columns_reads_as_today(tmp_path):
    book = read_book(write_book(tmp_path / "plain"))
    assert book["accounts"]["household_id"].isna().all()
    assert book["securities"]["identical_group"].isna().all()


@pytest.mark.parametrize("value", ["ALPHA FUND", "ALPHA;BETA", "x" * 65, "-lead"])
def test_malformed_identical_group_is_refused_with_file_line_column(tmp_path, value):
    sec = SEC[:2] + [SEC[2].replace(",ALPHA", f",{value}")] + SEC[3:]
    with pytest.raises(BookError) as e:
        _book(tmp_path, sec=sec)
    text = str(e.value)
    assert "securities.csv, line 3, column identical_group" in text


# --------------------------------------------------------------------------- Pub. 550, re-authored
def test_loss_in_joint_then_spouse_ira_buy_within_30_days_is_refused(tmp_path):
    """Pub. 550's IRA example: sold at a loss in the joint account, the spouse's IRA may not
    buy the fund (nor its other share class) within 30 days; the loss would be lost for good."""
    book = _book(tmp_path, tx=[f"J1,AAA,{_day(10)},SELL,100,100,-6000"])
    d = _decide(book)
    assert not _bought(d, "I1") & {"AAA", "AAC"}
    assert "AAB" in _bought(d, "I1")  # a different-group substitute is not blocked
    blocks = d.detail[list(d.proposals["account_id"]).index("I1")]["household"]["wash_blocks"]
    assert {"blocked": "BUY", "by": "J1", "group": "ALPHA"}.items() <= blocks[0].items()


def test_the_same_buy_on_day_31_is_allowed(tmp_path):
    book = _book(tmp_path, tx=[f"J1,AAA,{_day(31)},SELL,100,100,-6000"],
                 lots=LOTS[:1] + LOTS[2:], pos=POS[:1] + POS[2:])  # no loss left to harvest in J1
    d = _decide(book)
    assert "AAA" in _bought(d, "I1")


def test_without_the_household_the_ira_buys_the_fund(tmp_path):
    """The same book with blank household ids: the IRA is its own household and buys AAA."""
    accounts = [ACC_HEAD] + [line.rsplit(",", 1)[0] + "," for line in ACC[1:]]
    book = _book(tmp_path, accounts=accounts, tx=[f"J1,AAA,{_day(10)},SELL,100,100,-6000"],
                 lots=LOTS[:1] + LOTS[2:], pos=POS[:1] + POS[2:])
    assert "AAA" in _bought(_decide(book), "I1")


def test_ira_buy_blocks_a_loss_sale_in_the_joint_account(tmp_path):
    book = _book(tmp_path, tx=[f"I1,AAC,{_day(5)},BUY,10,100,"])
    d = _decide(book)
    assert not _loss_sold(d, book, "J1") & {"AAA", "AAC"}
    j1 = d.detail[list(d.proposals["account_id"]).index("J1")]["household"]["wash_blocks"]
    assert any(b["blocked"] == "LOSS_SALE" and b["by"] == "I1" for b in j1)


def test_a_tax_exempt_loss_sale_does_not_block_the_other_members(tmp_path):
    book = _book(tmp_path, tx=[f"I1,AAA,{_day(3)},SELL,10,100,-600"])
    w = hw.build(book.frames, book.as_of, 30)
    assert "J1" not in w.no_buy() and "AAA" in w.no_buy()["I1"]


def test_two_members_in_one_run_never_wash_each_other(tmp_path):
    """J1 harvests its AAA loss today and I1 wants AAA: decided together, I1 buys neither AAA
    nor its Admiral class; without the household it would (so the test can fail)."""
    book = _book(tmp_path)
    d = _decide(book)
    sold = _loss_sold(d, book, "J1")
    assert "AAA" in sold
    assert not _bought(d, "I1") & {"AAA", "AAC"}
    assert not _bought(d, "J1") & {"AAA", "AAC"}  # nor J1 itself into the identical share class
    solo = _book(tmp_path, name="solo", accounts=[ACC_HEAD] + [x.rsplit(",", 1)[0] + "," for x in ACC[1:]])
    assert _bought(_decide(solo), "I1") & {"AAA", "AAC"}


# --------------------------------------------------------------------------- honest coverage
def test_suspended_member_flags_the_others_and_blocks_harvest_of_what_it_held(tmp_path):
    accounts = ACC + ["R1,Smith Roth,GROWTH,VANGUARD,1000,false,,,,,,SMITH"]
    lots = LOTS + ["R1,L1,AAA,10,100,2024-01-01"]
    pos = POS + ["R1,AAA,11"]  # a recon break: R1 is suspended
    book = _book(tmp_path, accounts=accounts, lots=lots, pos=pos)
    d = _decide(book)
    p = d.proposals.set_index("account_id")
    assert p.at["R1", "category"] == "SUSPENDED"
    assert "WASH_COVERAGE_INCOMPLETE:R1" in p.at["J1", "flags"].split(";")
    assert "WASH_COVERAGE_INCOMPLETE:R1" in p.at["I1", "flags"].split(";")
    assert p.at["J1", "category"] != "SUSPENDED"
    assert not _loss_sold(d, book, "J1") & {"AAA", "AAC"}  # R1 held AAA: no harvest of it


def test_member_missing_from_the_book_uses_the_last_good_book(tmp_path):
    import pandas as pd

    book = _book(tmp_path)
    frames = dict(book.frames)
    frames["household_last_good"] = pd.DataFrame({"account_id": ["R9"], "household_id": ["SMITH"],
                                                  "symbol": ["AAC"]})
    d = decide(frames, book.as_of, eager_policy())
    p = d.proposals.set_index("account_id")
    assert "WASH_COVERAGE_INCOMPLETE:R9" in p.at["J1", "flags"]
    assert not _loss_sold(d, book, "J1") & {"AAA", "AAC"}


def test_tier_by_household_tiers_members_by_the_family_value(tmp_path):
    accounts = ACC + ["T1,Smith Trust,GROWTH,SCHWAB,30000000,true,0.37,0.20,,,,SMITH",
                      "X1,Olivia Jones,GROWTH,SCHWAB,60000,true,0.37,0.20,,,,"]
    book = _book(tmp_path, accounts=accounts)
    pol = eager_policy()
    own = decide(book.frames, book.as_of, pol).proposals.set_index("account_id")
    fam = decide(book.frames, book.as_of, pol.model_copy(update={"tier_by": "household"})).proposals \
        .set_index("account_id")
    assert own.at["I1", "tier"] == "Small" and own.at["T1", "tier"] == "UHNW"
    assert fam.at["I1", "tier"] == fam.at["J1", "tier"] == "UHNW"
    assert fam.at["X1", "tier"] == own.at["X1", "tier"] == "Small"
    assert "tier by household SMITH: 3 accounts" in fam.at["I1", "tier_basis"]
    assert "household" in pol.model_copy(update={"tier_by": "household"}).to_toml()
    assert "tier_by" not in pol.to_toml()  # a policy without it keeps its text and checksum


def test_household_id_is_free_text_up_to_64_characters(tmp_path):
    accounts = [ACC_HEAD, ACC[1].replace(",SMITH", ",Smith Family 2"), ACC[2].replace(",SMITH", ",Smith Family 2")]
    assert set(_book(tmp_path, accounts=accounts)["accounts"]["household_id"]) == {"Smith Family 2"}
    long = [ACC_HEAD, ACC[1].replace(",SMITH", "," + "H" * 65), ACC[2]]
    with pytest.raises(BookError, match="accounts.csv, line 2, column household_id: .* longer than 64"):
        _book(tmp_path, accounts=long, name="long")
