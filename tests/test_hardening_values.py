"""Issue #18, class HOSTILE VALUES: property tests over text for the writers a value can reach
(FIX messages, the trades / lots / report CSVs, XLSX sheets, terminal lines) and for the import
rule that keeps such values out of a book in the first place."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import simplefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from bookkit import BASE, write_book
from engine.desk import exporter
from engine.book.book import BookError, read_book
from engine.desk.lot_instructions import LOTS_COLUMNS, lots_csv_bytes
from engine.core.safe_text import CONTROL_RE, FORMULA_START, cell_safe, fix_value, printable, sheet_titles

SOH = b"\x01"
# text as a hostile feed could carry it: formulas, delimiters, controls, any Unicode
hostile = st.text(st.one_of(st.sampled_from(list("=+-@|;:,\"'\x01\t\r\n\x1b\x85 ")),
                            st.characters(blacklist_categories=("Cs",))),  # files are UTF-8: no lone surrogates
                  min_size=0, max_size=12)
# what import lets through into a key field (engine.book.book: no control characters, no | or =)
key_value = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="|=\x85"),
                    min_size=1, max_size=12).filter(lambda s: not CONTROL_RE.search(s))


def _lines(accounts, custodians, symbols, reasons, prices):
    n = len(accounts)
    return pd.DataFrame({
        "account_id": accounts, "custodian": custodians, "symbol": symbols,
        "side": ["SELL" if i % 2 else "BUY" for i in range(n)], "quantity": [10 + i for i in range(n)],
        "est_price": prices, "est_value": [p * 10 for p in prices],
        "lot_id": ["" for _ in range(n)], "category": ["SCORE"] * n, "reason": reasons,
        "lots": ["" for _ in range(n)]})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(key_value, key_value, key_value), min_size=1, max_size=5))
def test_fix_fields_parse_back_to_exactly_the_intended_tags(rows):
    lines = _lines([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [""] * len(rows),
                   [1.0] * len(rows))
    data = exporter._fix_bytes(lines, "B1-0001", pd.Timestamp("2026-11-20 12:00").to_pydatetime())
    msgs = data.split(b"\n")[:-1]
    assert len(msgs) == len(rows)
    for (acc, cust, sym), msg in zip(rows, msgs):
        tags = [f.split(b"=", 1)[0] for f in msg[:-1].split(SOH)]
        assert tags == [b"8", b"9", b"35", b"49", b"56", b"34", b"52", b"11", b"1", b"21", b"55", b"54", b"60",
                        b"38", b"40", b"10"]  # one of each: no value adds or repeats a tag
        p = simplefix.FixParser()
        p.append_buffer(msg)
        parsed = p.get_message()
        assert parsed is not None
        assert parsed.get(1) == acc.encode() and parsed.get(56) == cust.encode() and parsed.get(55) == sym.encode()
        assert parsed.get(54) in (b"1", b"2") and parsed.get(38) is not None


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_fix_writer_never_frames_a_control_character(value):
    fields = [(35, "D"), (1, value), (55, "AAA"), (54, 1), (38, 5)]
    if CONTROL_RE.search(value) or value == "":
        with pytest.raises(ValueError, match="FIX tag 1"):
            exporter.fix_message(fields)
        return
    msg = exporter.fix_message(fields)
    assert msg.count(SOH) == 8  # 8, 9, five fields, 10: SOH only as delimiters
    p = simplefix.FixParser()
    p.append_buffer(msg)
    assert p.get_message().get(1) == value.encode()


TEXT = ["batch_id", "account_id", "custodian", "symbol", "side", "lot_id", "category", "reason", "lots"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(hostile, hostile, hostile, hostile, st.floats(-1e6, 1e6, allow_nan=False)),
                min_size=1, max_size=6))
def test_trades_csv_text_cells_never_start_with_a_formula_character(rows):
    lines = _lines(*[list(c) for c in zip(*rows)])
    data = exporter._csv_bytes(lines, "B1-0001").decode("utf-8")
    got = list(csv.DictReader(io.StringIO(data, newline="")))
    assert len(got) == len(rows)
    for (acc, cust, sym, reason, price), r in zip(rows, got):
        for col in TEXT:
            assert not r[col].startswith(FORMULA_START), (col, r[col])
        for col, want in (("account_id", acc), ("custodian", cust), ("symbol", sym), ("reason", reason)):
            assert r[col] == cell_safe(want) or (want == "" and r[col] == ""), (col, want, r[col])
        assert float(r["est_price"]) == pytest.approx(round(price, 4))  # numbers untouched, signs kept


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(hostile, hostile, hostile), min_size=1, max_size=4))
def test_lots_csv_text_cells_never_start_with_a_formula_character(rows):
    df = pd.DataFrame([{"batch_id": "B1", "account_id": a, "custodian": c, "symbol": s, "lot_id": "L1",
                        "quantity": 5, "unit_cost": 1.5, "acquired_date": "2020-01-01", "term": "LT",
                        "est_gain": -12.5} for a, c, s in rows], columns=LOTS_COLUMNS)
    got = list(csv.DictReader(io.StringIO(lots_csv_bytes(df).decode("utf-8"), newline="")))
    for (a, c, s), r in zip(rows, got):
        for col in ("account_id", "custodian", "symbol"):
            assert not r[col].startswith(FORMULA_START)
        assert (r["account_id"], r["custodian"], r["symbol"]) == (cell_safe(a), cell_safe(c), cell_safe(s))
        assert r["est_gain"] == "-12.5"  # a negative number stays a number


@settings(max_examples=200, deadline=None)
@given(st.lists(hostile, min_size=1, max_size=8, unique=True))
def test_sheet_titles_are_legal_and_unique_for_any_custodian(names):
    titles = sheet_titles(names)
    assert set(titles) == set(names)
    seen = {t.lower() for t in titles.values()}
    assert len(seen) == len(names)
    for t in titles.values():
        assert 1 <= len(t) <= 31 and not any(ch in t for ch in "/\\?*[]:") and not CONTROL_RE.search(t)
        assert not t.startswith("'") and not t.endswith("'")


def test_xlsx_sheets_and_formula_cells_from_hostile_custodians(tmp_path):
    custs = ["A/B:C*", "A\\B?C[", "A_B_C_", "x" * 40, "x" * 40 + "y", "'Q'"]
    lines = _lines([f"=cmd|' /C calc'!A{i}" for i in range(len(custs))], custs, ["AAA"] * len(custs),
                   ["@SUM(1)"] * len(custs), [1.0] * len(custs))
    path = tmp_path / "t.xlsx"
    path.write_bytes(exporter._xlsx_bytes(lines, "B1"))
    wb = load_workbook(path)
    assert len(wb.sheetnames) == len(custs) == len({s.lower() for s in wb.sheetnames})
    for ws in wb.worksheets:
        row = [c for c in ws[2]]
        header = [c.value for c in ws[1]]
        acc = row[header.index("account_id")]
        assert acc.data_type == "s" and acc.value.startswith("'=cmd")
        assert row[header.index("reason")].value == "'@SUM(1)"
        assert row[header.index("quantity")].data_type == "n"


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_printable_leaves_no_control_character(value):
    out = printable(value)
    assert not CONTROL_RE.search(out) and "\n" not in out
    if not CONTROL_RE.search(value):
        assert out == value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_import_lets_no_control_character_or_delimiter_into_a_key(value):
    """Whatever text is in an account id, the book is refused or the stored id is FIX-clean."""
    with tempfile.TemporaryDirectory() as d:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([value, "New", "GROWTH", "SCHWAB", "10", "true",
                                                       "", "", "", "", ""])
        folder = write_book(Path(d) / "b", append={"accounts.csv": [buf.getvalue().rstrip("\n")]})
        try:
            book = read_book(folder)
        except BookError as exc:
            assert "accounts.csv" in str(exc)
            assert not any(ch in str(exc) for ch in "\x01\x1b")
            return
        for acc in book["accounts"]["account_id"]:
            assert not CONTROL_RE.search(acc) and "|" not in acc and "=" not in acc
            fix_value(1, acc)
        assert len(book["accounts"]) == len(BASE["accounts.csv"])
