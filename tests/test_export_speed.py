"""The fast paths of the export, approval and import (issue 21) write what the plain ones wrote.

- cells made spreadsheet-safe in one vectorized pass: the same cells as :func:`cell_safe` on each;
- FIX messages framed at once: the same bytes as :func:`fix_message` one by one, and a bad value
  still refused by name;
- the XLSX from XlsxWriter: the same sheets and cells as openpyxl's write-only writer gave;
- :func:`storage.bulk.id_in`: one set-based UPDATE over more ids than a database takes as
  parameters, on SQLite and PostgreSQL;
- :func:`storage.bulk.insert_frame` in chunks: every row, in order, across chunk boundaries.
"""
from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from engine.core.safe_text import cell_safe, frame_cells_safe
from engine.desk import exporter

HOSTILE = ["plain", "=SUM(A1)", "+1", "-x", "@me", "\tx", "\rx", "a\x01b", "a\x9fb", "", None, np.nan, "'q",
           "é=", "x-y", "\x7f", "=", "日本"]


def test_cells_safe_in_one_pass_match_cell_by_cell():
    df = pd.DataFrame({"a": HOSTILE, "n": range(len(HOSTILE)),
                       "s": pd.array([v if isinstance(v, str) else None for v in HOSTILE], dtype="str"),
                       "mixed": [1, "=x", None] + ["ok"] * (len(HOSTILE) - 3)})
    got = frame_cells_safe(df, ["a", "n", "s", "mixed"])
    for c in ("a", "s", "mixed"):
        want = df[c].map(cell_safe)
        assert [None if pd.isna(v) else v for v in got[c]] == [None if pd.isna(v) else v for v in want], c
    assert got["a"].iloc[1] == "'=SUM(A1)" and got["a"].iloc[7] == "a\\x01b"
    assert got["n"].tolist() == list(range(len(HOSTILE)))
    assert df["a"].iloc[1] == "=SUM(A1)"  # the input frame is left as it was


def _lines(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "account_id": [f"A{i % 37:04d}" for i in range(n)],
        "custodian": [("SCHWAB", "FIDÉLITY", "A/B:C*", "=BNY")[i % 4] for i in range(n)],
        "symbol": [f"S{i % 11}" for i in range(n)],
        "side": ["BUY" if i % 3 else "SELL" for i in range(n)],
        "quantity": rng.integers(1, 10_000, n),
        "est_price": np.round(rng.uniform(1, 900, n), 4),
        "lots": ["" if i % 3 else f"L{i}:5;Lé{i}:7" for i in range(n)],
        "lot_id": ["" if i % 3 else f"L{i};Lé{i}" for i in range(n)],
        "category": "SCORE", "reason": ["drift", "=cmd", "", None][0:1] * n}).assign(
        est_value=lambda d: (d["quantity"] * d["est_price"]).round(2))


def test_fix_messages_framed_at_once_are_the_bytes_of_one_by_one():
    lines = _lines()
    when = datetime(2026, 11, 20, 12, 30, 1, 250_000)
    fast = exporter._fix_bytes(lines, "B20261120-0001", when)
    cols = [lines[c].astype(object).tolist() for c in ("account_id", "custodian", "symbol", "side", "quantity", "lots")]
    slow = exporter._fix_bytes_each(cols, "B20261120-0001", when.strftime("%Y%m%d-%H:%M:%S.%f")[:-3])
    assert fast == slow
    assert fast.count(b"\n") == len(lines) and "FIDÉLITY".encode() in fast
    assert exporter._fix_bytes(lines.iloc[:0], "B1", when) == b""


@pytest.mark.parametrize("column,value", [("account_id", "A\x01B"), ("symbol", ""), ("lots", "L1:5\x0154=1")])
def test_a_value_that_would_break_a_fix_message_is_still_refused(column, value):
    lines = _lines(10)
    lines.loc[4, column] = value
    with pytest.raises(ValueError, match="FIX tag"):
        exporter._fix_bytes(lines, "B1", datetime(2026, 11, 20))


def test_xlsx_has_the_sheets_and_cells_of_the_trades_file():
    from openpyxl import load_workbook

    lines = _lines(200)
    lines.loc[5, "est_price"] = np.nan
    wb = load_workbook(io.BytesIO(exporter._xlsx_bytes(lines, "B7")), read_only=True)
    titles = [ws.title for ws in wb.worksheets]
    assert titles == ["=BNY", "A_B_C_", "FIDÉLITY", "SCHWAB"]  # sorted by custodian, legal titles
    csv = pd.read_csv(io.BytesIO(exporter._csv_bytes(lines, "B7")), keep_default_na=False, dtype=str)
    got = []
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == exporter.CSV_COLUMNS
        got += rows[1:]
    assert len(got) == len(lines)
    sheet = pd.DataFrame(got, columns=exporter.CSV_COLUMNS)
    key = ["account_id", "symbol", "side", "quantity"]
    csv = csv.assign(quantity=csv["quantity"].astype(int)).sort_values(key, kind="stable").reset_index(drop=True)
    sheet = sheet.sort_values(key, kind="stable").reset_index(drop=True)
    for c in exporter.TEXT_COLUMNS:  # text as text (a blank is an empty cell), formula starts quoted
        assert sheet[c].fillna("").tolist() == csv[c].tolist(), c
    assert "'=BNY" in set(sheet["custodian"])
    prices = [r[exporter.CSV_COLUMNS.index("est_price")] for r in got]
    assert sum(p is None for p in prices) == 1  # a missing price is a blank cell, not "nan"
    assert all(isinstance(p, (int, float)) for p in prices if p is not None)


def test_id_in_updates_more_rows_than_a_statement_takes_parameters(engine):
    from storage.bulk import id_in

    md = MetaData()
    t = Table("t_id_in", md, Column("id", Integer, primary_key=True), Column("s", String(4)))
    with engine.begin() as conn:
        md.create_all(conn)
        conn.execute(t.insert(), [{"id": i, "s": "a"} for i in range(1, 70_001)])
        ids = list(range(1, 70_001, 2)) + [10**6]  # 35,000 ids (over SQLite's 32,766 parameters)
        done = conn.execute(update(t).where(id_in(conn, t.c.id, ids), t.c.s == "a").values(s="b"))
        assert done.rowcount == 35_000
        assert conn.execute(select(t.c.id).where(t.c.s == "b").order_by(t.c.id)).scalars().all() == ids[:-1]
        assert conn.execute(select(t.c.id).where(id_in(conn, t.c.id, []))).all() == []
        md.drop_all(conn)


def test_insert_frame_in_chunks_writes_every_row_in_order(engine, monkeypatch):
    from storage import bulk

    md = MetaData()
    t = Table("t_chunks", md, Column("id", Integer, primary_key=True), Column("s", String(8)),
              Column("x", Integer))
    monkeypatch.setattr(bulk, "CHUNK", 7)  # chunk boundaries inside the frame and the statements
    df = pd.DataFrame({"id": range(1, 1_001), "s": [None if i % 5 == 0 else f"r{i}" for i in range(1_000)],
                       "x": np.arange(1_000) * 3})
    with engine.begin() as conn:
        md.create_all(conn)
        assert bulk.insert_frame(conn, t, df) == 1_000
        rows = conn.execute(select(t.c.id, t.c.s, t.c.x).order_by(t.c.id)).all()
        md.drop_all(conn)
    assert [tuple(r) for r in rows] == [(i + 1, None if i % 5 == 0 else f"r{i}", 3 * i) for i in range(1_000)]
