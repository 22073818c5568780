"""Issue 23, the book contract: budgets, realized gains and trading modes in accounts.csv, a
request's mode in cash_requests.csv; validated with file, line and column; stored with the
snapshot; absent = today's behaviour."""
from __future__ import annotations

import numpy as np
import pytest

from bookkit import BASE, write_book
from engine.book.book import BookError, read_book
from engine.book.importer import import_book
from storage import repo

ACC_HEAD = BASE["accounts.csv"][0] + ",gains_budget,ytd_realized_st,ytd_realized_lt,trading_mode"
ACCOUNTS = [ACC_HEAD,
            BASE["accounts.csv"][1] + ",50000,12000.5,-3000,cash_flow",
            BASE["accounts.csv"][2] + ",,,,",
            BASE["accounts.csv"][3] + ",0,,250,FULL"]
REQ_HEAD = BASE["cash_requests.csv"][0] + ",mode"
REQUESTS = [REQ_HEAD, BASE["cash_requests.csv"][1] + ",raise_only",
            "CR2,A1,1000,2026-11-30,high,,"]


def test_new_columns_round_trip_through_the_snapshot(engine, tmp_path):
    folder = write_book(tmp_path / "b", changes={"accounts.csv": ACCOUNTS, "cash_requests.csv": REQUESTS})
    snap = import_book(engine, folder)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, snap)
    acc = frames["accounts"].set_index("account_id")
    assert acc.loc["A1", "gains_budget"] == 50000 and acc.loc["A1", "ytd_realized_st"] == 12000.5
    assert acc.loc["A1", "ytd_realized_lt"] == -3000 and acc.loc["A1", "trading_mode"] == "cash_flow"
    assert np.isnan(acc.loc["A2", "gains_budget"]) and np.isnan(acc.loc["A2", "ytd_realized_st"])
    assert acc.loc["A2", "trading_mode"] is None or acc["trading_mode"].isna()["A2"]
    assert acc.loc["A3", "gains_budget"] == 0 and acc.loc["A3", "trading_mode"] == "full"
    cr = frames["cash_requests"].set_index("request_id")
    assert cr.loc["CR1", "mode"] == "raise_only" and cr["mode"].isna()["CR2"]


def test_absent_columns_read_as_blank(engine, book_dir):
    snap = import_book(engine, book_dir)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, snap)
    assert frames["accounts"][["gains_budget", "ytd_realized_st", "trading_mode"]].isna().all().all()
    assert frames["cash_requests"]["mode"].isna().all()


@pytest.mark.parametrize("file, line, value, column, words", [
    ("accounts.csv", 2, ",-5,,,", "gains_budget", "negative"),
    ("accounts.csv", 3, ",lots,,,", "gains_budget", "not a number"),
    ("accounts.csv", 4, ",,x1,,", "ytd_realized_st", "not a number"),
    ("accounts.csv", 2, ",,,,monthly", "trading_mode", "not one of full, cash_flow"),
    ("cash_requests.csv", 2, ",withdraw", "mode", "not one of rebalance, raise_only"),
])
def test_bad_values_refused_with_file_line_column(engine, tmp_path, file, line, value, column, words):
    accounts = [ACC_HEAD] + [row + ",,,," for row in BASE["accounts.csv"][1:]]
    requests = [REQ_HEAD, BASE["cash_requests.csv"][1] + ","]
    rows = accounts if file == "accounts.csv" else requests
    base = rows[line - 1].rsplit(",", 4 if file == "accounts.csv" else 1)[0]
    rows[line - 1] = base + value
    folder = write_book(tmp_path / "b", changes={"accounts.csv": accounts, "cash_requests.csv": requests})
    with pytest.raises(BookError) as err:
        read_book(folder)
    text = str(err.value)
    assert f"{file}, line {line}, column {column}" in text and words in text, text
    with pytest.raises(BookError):
        import_book(engine, folder)
    with engine.connect() as conn:
        assert repo.snapshot_info(conn) is None  # nothing imported
