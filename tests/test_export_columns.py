"""The column-wise export (issue 21) reads and writes what the row-wise one did.

- :func:`storage.columnar.read_columns` gives the values :func:`storage.bulk.read_frame` gives
  (every column type the export reads, with gaps), on SQLite and PostgreSQL; :func:`text_in`
  selects by more text values than a statement takes parameters;
- the trades CSV, the FIX file and the XLSX written from columns (engine.desk.batch_files) are the
  bytes / the cells the pandas, per-message and XlsxWriter writers (tests/export_reference.py)
  wrote, on a batch with awkward text: commas, quotes, ``=cmd``, unicode, XML-like ``<a>&``,
  line breaks, blanks and missing numbers.
"""
from __future__ import annotations

import io
from datetime import date, datetime

import export_reference as ref
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Boolean, Column, Date, DateTime, Float, Integer, MetaData, String, Table, Text, select

from engine.desk import exporter
from storage.bulk import read_frame
from storage.columnar import columns_frame, read_columns, text_in

AWKWARD = ["plain", "a,b", 'say "hi"', "=cmd|' /C calc'!A0", "+1", "-x", "@me", "日本語", "<a>&amp;</b>",
           "x\ny", "tab\there", "  lead", "trail ", "é,\"=", "", None, "'q", "a&b<c>d", "Ünï, \"ç\""]


def _table():
    md = MetaData()
    return md, Table("t_columns", md, Column("id", Integer, primary_key=True), Column("n", Integer),
                     Column("gap", Integer), Column("x", Float), Column("s", String(40)), Column("t", Text),
                     Column("at", DateTime), Column("d", Date), Column("flag", Boolean), Column("none", Text))


def _rows(k: int):
    return [{"id": i + 1, "n": i * 7, "gap": None if i % 3 == 0 else i, "x": None if i % 4 == 1 else i / 3,
             "s": AWKWARD[i % len(AWKWARD)], "t": None if i % 5 == 0 else f"t{i},\"{i}\"",
             "at": datetime(2026, 11, 20, 12, i % 60, i % 59, (i * 1237) % 1_000_000),
             "d": None if i % 6 == 0 else date(2020, 1 + i % 12, 1 + i % 28), "flag": bool(i % 2), "none": None}
            for i in range(k)]


def test_columnar_read_is_the_orm_read(engine):
    md, t = _table()
    with engine.begin() as conn:
        md.create_all(conn)
        conn.execute(t.insert(), _rows(500))
        for stmt in (select(t).order_by(t.c.id),
                     select(t.c.id, t.c.s, t.c.at, t.c.gap).where(t.c.n > 70, t.c.s != "plain").order_by(t.c.id),
                     select(t).where(t.c.id < 0)):
            want = read_frame(conn, stmt)
            got = columns_frame(read_columns(conn, stmt))
            assert list(got.columns) == list(want.columns)
            assert len(got) == len(want)
            if len(want):
                pd.testing.assert_frame_equal(got, want, check_dtype=True)
        # SQL text in the driver's paramstyle: the driver's values, typed as pandas infers them
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        raw = read_columns(conn, f"SELECT id, n FROM t_columns WHERE n > {mark} ORDER BY id", (70,))
        assert raw["id"].tolist() == [r["id"] for r in _rows(500) if r["n"] > 70]
        md.drop_all(conn)


def test_the_export_read_of_trades_is_the_orm_read(engine, tmp_path):
    """The trades select of an export (exporter.READ_COLUMNS) read both ways on a real book."""
    from engine.book.importer import import_book
    from bookkit import write_book
    from storage import models as m
    from storage.bulk import insert_frame

    import_book(engine, write_book(tmp_path / "book"), user="t")
    n = 300
    df = pd.DataFrame({"proposal_id": None, "snapshot_id": 1, "account_id": [f"X{i % 17:03d}" for i in range(n)],
                       "custodian": [AWKWARD[i % 9] or "C" for i in range(n)], "symbol": "S1",
                       "side": ["BUY" if i % 2 else "SELL" for i in range(n)], "quantity": np.arange(1, n + 1),
                       "est_price": [None if i % 7 == 0 else 1.5 * i for i in range(n)], "est_value": 1.0,
                       "lots": [None if i % 2 else f"L{i}:{i + 1}" for i in range(n)], "category": "MANUAL",
                       "reason": [AWKWARD[i % len(AWKWARD)] for i in range(n)], "status": "APPROVED",
                       "created_by": "t", "created_at": datetime(2026, 11, 20, 12, 0, 1, 5000),
                       "four_eyes": [bool(i % 3 == 0) for i in range(n)],
                       "approved_by": [None if i % 3 else "u2" for i in range(n)]})
    T = m.Trade.__table__
    with engine.begin() as conn:
        insert_frame(conn, T, df)
        stmt = select(*[T.c[c] for c in exporter.READ_COLUMNS]).where(exporter.exportable(conn)).order_by(T.c.id)
        want = read_frame(conn, stmt)
        got = columns_frame(read_columns(conn, stmt))
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)


def test_text_in_selects_by_more_values_than_a_statement_takes(engine):
    md = MetaData()
    t = Table("t_text_in", md, Column("id", Integer, primary_key=True), Column("s", String(16)))
    with engine.begin() as conn:
        md.create_all(conn)
        conn.execute(t.insert(), [{"id": i, "s": f"a'{i},\"x\""} for i in range(40_000)])
        want = [f"a'{i},\"x\"" for i in range(0, 40_000, 1)] + ["nope", "日本"]  # 40,002 values
        got = read_columns(conn, select(t.c.id).where(text_in(conn, t.c.s, want), t.c.id % 2 == 0))
        assert sorted(got["id"].tolist()) == list(range(0, 40_000, 2))
        assert len(read_columns(conn, select(t.c.id).where(text_in(conn, t.c.s, [])))["id"]) == 0
        md.drop_all(conn)


def _lines(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    pick = [v if v is not None else "" for v in AWKWARD]
    price = np.round(rng.uniform(0.01, 900, n), 4)
    price[::17] = np.nan
    if n > 4:
        price[3] = 1.2345678901234567  # more digits than XlsxWriter prints (%.16G)
        price[4] = 100.0
    lines = pd.DataFrame({
        "account_id": [f"A{i % 37:04d}{pick[i % 8]}" for i in range(n)],
        "custodian": [("SCHWAB", "FIDÉLITY", "A/B:C*", "=BNY", "x&y<z>")[i % 5] for i in range(n)],
        "symbol": [f"S{i % 11}" for i in range(n)],
        "side": ["BUY" if i % 3 else "SELL" for i in range(n)],
        "quantity": rng.integers(1, 10_000, n),
        "est_price": price,
        "lots": ["" if i % 3 else f"L{i}:5;Lé{i}:7" for i in range(n)],
        "lot_id": ["" if i % 3 else f"L{i};Lé{i}" for i in range(n)],
        "category": [("SCORE", "MANUAL", "=X")[i % 3] for i in range(n)],
        "reason": [AWKWARD[(i * 7) % len(AWKWARD)] for i in range(n)]})
    return lines.assign(est_value=(lines["quantity"] * lines["est_price"]).round(2))


def test_csv_from_columns_is_the_bytes_of_to_csv():
    lines = _lines()
    got = exporter._csv_bytes(lines, "B20261120-0001")
    assert got == ref.csv_bytes(lines, "B20261120-0001")
    assert b'"a,b"' in got and b"'=cmd" in got and "日本語".encode() in got and b"x\\ny" in got
    assert exporter._csv_bytes(lines.iloc[:0], "B1") == ref.csv_bytes(lines.iloc[:0], "B1")
    ints = lines.assign(est_price=lines["est_price"].fillna(1.0))  # no gap: a float column stays float
    assert exporter._csv_bytes(ints, "B1") == ref.csv_bytes(ints, "B1")


def test_fix_from_columns_is_the_bytes_of_one_message_at_a_time():
    lines = _lines()
    when = datetime(2026, 11, 20, 12, 30, 1, 250_000)
    got = exporter._fix_bytes(lines, "B20261120-0001", when)
    assert got == ref.fix_bytes(lines, "B20261120-0001", when)
    assert got.count(b"\n") == len(lines) and "FIDÉLITY".encode() in got and "日本語".encode() in got


def _cells(data: bytes) -> dict:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def test_xlsx_from_columns_has_every_cell_of_the_xlsxwriter_sheets():
    lines = _lines()
    got, want = _cells(exporter._xlsx_bytes(lines, "B7")), _cells(ref.xlsx_bytes(lines, "B7"))
    assert list(got) == list(want) == ["=BNY", "A_B_C_", "FIDÉLITY", "SCHWAB", "x&y<z>"]
    for title in want:
        assert got[title] == want[title], title
    flat = [v for rows in got.values() for r in rows for v in r]
    assert "<a>&amp;</b>" in flat and "'=cmd|' /C calc'!A0" in flat and "  lead" in flat and "trail " in flat
    assert 1.234567890123457 in flat and "x\\ny" in flat
    one = lines[lines["custodian"] == "SCHWAB"].iloc[:0]
    assert _cells(exporter._xlsx_bytes(one, "B7")) == _cells(ref.xlsx_bytes(one, "B7"))  # XlsxWriter's blank Sheet1


@pytest.mark.parametrize("n", [1, 5])
def test_xlsx_from_columns_small_batches(n):
    lines = _lines(n)
    assert _cells(exporter._xlsx_bytes(lines, "B1")) == _cells(ref.xlsx_bytes(lines, "B1"))


def test_lot_rows_read_set_based_are_the_rows_of_one_query_per_chunk(engine, tmp_path):
    """The lots file of sells naming real lots of the book (and one unknown lot): the same bytes
    whether the lots are read in one set-based query or one query per 5,000 accounts."""
    from bookkit import write_book

    from engine.book.importer import import_book
    from engine.desk.lot_instructions import lot_rows, lots_csv_bytes
    from storage import models as m

    import_book(engine, write_book(tmp_path / "book"), user="t")
    L = m.Lot.__table__
    with engine.connect() as conn:
        lots = read_frame(conn, select(L.c.account_id, L.c.symbol, L.c.lot_id, L.c.quantity).order_by(L.c.account_id, L.c.lot_id))
        assert len(lots) > 3
        by = lots.groupby(["account_id", "symbol"], sort=False)
        sells = [{"account_id": a, "symbol": s, "custodian": f"C,{a[-1:]}", "side": "SELL", "snapshot_id": 1,
                  "est_price": 12.5, "lots": ";".join(f"{lot}:{max(1, int(q) // 2)}" for lot, q in
                                                      zip(g["lot_id"], g["quantity"]))} for (a, s), g in by]
        sells.append(dict(sells[0], lots="NOPE:3"))
        trades = pd.DataFrame(sells + [dict(sells[0], side="BUY", lots=None)])
        got, want = lot_rows(conn, trades, "B1"), ref.lot_rows(conn, trades, "B1")
    assert len(got) >= len(lots)
    assert lots_csv_bytes(got) == lots_csv_bytes(want)
    assert (got["term"] != "").any() and got["unit_cost"].notna().any()


def test_lot_rows_split_each_named_lot_at_its_last_colon(engine):
    from engine.desk.lot_instructions import lot_rows

    trades = pd.DataFrame({"account_id": ["A1", "A1", "A1"], "custodian": ["C", "C", "C"], "symbol": ["X", "Y", "Z"],
                           "side": ["SELL", "SELL", "BUY"], "snapshot_id": [1, 1, 1], "est_price": [10.0, 5.0, 2.0],
                           "lots": ["L:1:100;L2:5", "L3:7", None]})
    with engine.connect() as conn:
        got = lot_rows(conn, trades, "B1")
        assert list(zip(got["symbol"], got["lot_id"], got["quantity"])) == [("X", "L:1", 100), ("X", "L2", 5),
                                                                            ("Y", "L3", 7)]
        with pytest.raises(ValueError, match="LOT:shares"):  # a lot named without its shares
            lot_rows(conn, trades.assign(lots=["L1", "L3:7", None]), "B1")
