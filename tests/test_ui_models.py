"""FrameModel: lazily formatted cells, numpy sorting (row permutation), mask filtering."""
import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt

from ui import fmt
from ui.models import Col, FrameModel, RawRole

COLS = [Col("account_id", "Account"), Col("value", "Value", "money"), Col("score", "Score", "bps"),
        Col("since", "Since", "date"), Col("urgent", "Urgent", "bool"), Col("note", "Note", tooltip_key="note")]


def frame():
    return pd.DataFrame({
        "account_id": ["A3", "A1", "B2", "A2", "C9"],
        "value": [1_234_567.4, 50.0, np.nan, -2_500.0, 10.0],
        "score": [12.345, np.nan, -3.0, 0.0, 7.5],
        "since": pd.to_datetime(["2026-11-01", None, "2026-10-01", "2026-12-01", "2026-11-15"]),
        "urgent": [True, False, False, True, False],
        "note": ["lots hold 100", None, "feed failed", "x", "y"],
    })


def col(m, key):
    return [c.key for c in m.columns].index(key)


def column(m, key, role=Qt.ItemDataRole.DisplayRole):
    c = col(m, key)
    return [m.data(m.index(r, c), role) for r in range(m.rowCount())]


def test_formats():
    assert fmt.money(1_234_567.4) == "$1,234,567"
    assert fmt.money(-2500) == "−$2,500"
    assert fmt.money2(0.5) == "$0.50"
    assert fmt.money_nz(0) == "" and fmt.money_nz(1500) == "$1,500"
    assert fmt.bps(12.345) == "12.3 bps" and fmt.bps(-3) == "−3.0 bps"
    assert fmt.count(1234567) == "1,234,567"
    assert fmt.qty(1500.0) == "1,500" and fmt.qty(2.5) == "2.5"
    assert fmt.pct(0.125) == "12.5%"
    assert fmt.day(pd.Timestamp("2026-11-20")) == "2026-11-20" and fmt.day(None) == ""
    assert fmt.until(None) == "until ended"
    assert fmt.money(np.nan) == "" and fmt.day(pd.NaT) == ""


def test_model_passes_qtmodeltester(qtmodeltester):
    m = FrameModel(COLS, emphasis="urgent")
    m.set_frame(frame())
    qtmodeltester.check(m, force_py=True)
    m.sort(1, Qt.SortOrder.DescendingOrder)
    m.set_text_filter("a")
    qtmodeltester.check(m, force_py=True)


def test_cells_are_formatted_aligned_and_raw(qtbot):
    m = FrameModel(COLS, emphasis="urgent")
    m.set_frame(frame())
    assert m.rowCount() == 5 and m.columnCount() == 6
    assert m.headerData(1, Qt.Orientation.Horizontal) == "Value"
    assert column(m, "value") == ["$1,234,567", "$50", "", "−$2,500", "$10"]
    assert column(m, "score")[0] == "12.3 bps"
    assert column(m, "since")[:2] == ["2026-11-01", ""]
    assert column(m, "urgent") == ["Yes", "", "", "Yes", ""]
    assert column(m, "value", RawRole)[0] == 1_234_567.4
    right = m.data(m.index(0, col(m, "value")), Qt.ItemDataRole.TextAlignmentRole)
    assert right & Qt.AlignmentFlag.AlignRight
    assert m.data(m.index(0, col(m, "note")), Qt.ItemDataRole.ToolTipRole) == "lots hold 100"
    assert m.data(m.index(0, 0), Qt.ItemDataRole.FontRole).bold()       # urgent row
    assert m.data(m.index(1, 0), Qt.ItemDataRole.FontRole) is None


def test_sort_numeric_strings_dates_missing_last():
    m = FrameModel(COLS)
    m.set_frame(frame())
    m.sort(col(m, "value"), Qt.SortOrder.AscendingOrder)
    assert column(m, "account_id") == ["A2", "C9", "A1", "A3", "B2"]  # NaN last
    m.sort(col(m, "value"), Qt.SortOrder.DescendingOrder)
    assert column(m, "account_id") == ["A3", "A1", "C9", "A2", "B2"]  # NaN still last
    m.sort(col(m, "account_id"), Qt.SortOrder.AscendingOrder)
    assert column(m, "account_id") == ["A1", "A2", "A3", "B2", "C9"]
    m.sort(col(m, "since"), Qt.SortOrder.DescendingOrder)
    assert column(m, "account_id") == ["A2", "C9", "A3", "B2", "A1"]
    m.sort(col(m, "urgent"), Qt.SortOrder.DescendingOrder)  # stable: ties keep frame order
    assert column(m, "account_id") == ["A3", "A2", "A1", "B2", "C9"]
    m.sort(-1)
    assert column(m, "account_id") == ["A3", "A1", "B2", "A2", "C9"]


def test_sort_keeps_persistent_indexes_and_survives_new_frame():
    m = FrameModel(COLS)
    m.set_frame(frame())
    p = QPersistentModelIndex(m.index(1, 0))  # A1
    m.sort(col(m, "account_id"), Qt.SortOrder.DescendingOrder)
    assert p.row() == 4 and m.data(m.index(p.row(), 0)) == "A1"
    m.set_frame(frame().iloc[:3])  # the sort order is kept for new data
    assert column(m, "account_id") == ["B2", "A3", "A1"]


def test_filters_combine_and_find_rows():
    m = FrameModel(COLS)
    m.set_frame(frame())
    m.set_text_filter("FEED", ["note", "account_id"])
    assert column(m, "account_id") == ["B2"]
    m.set_text_filter("fail")  # default: every text column
    assert column(m, "account_id") == ["B2"]
    m.set_text_filter("a", ["account_id"])
    assert column(m, "account_id") == ["A3", "A1", "A2"]
    m.set_mask("urgent", frame()["urgent"].to_numpy())
    assert column(m, "account_id") == ["A3", "A2"]
    assert m.total_rows() == 5 and m.rowCount() == 2
    assert m.find("account_id", "A2") == 1 and m.find("account_id", "A1") == -1  # filtered out
    assert m.row_dict(1)["value"] == -2500.0 and m.value(0, "account_id") == "A3"
    m.set_mask("urgent", None)
    m.set_text_filter("")
    assert m.rowCount() == 5
    with pytest.raises(ValueError):
        m.set_mask("bad", np.ones(3, bool))


def test_large_frame_sort_and_filter_fast():
    """100,000 rows: sorting and filtering are numpy work, not per-row Python."""
    import time

    n = 100_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"account_id": [f"A{i:06d}" for i in rng.permutation(n)],
                       "value": rng.lognormal(12, 2, n), "score": rng.normal(0, 50, n),
                       "since": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                       "urgent": rng.random(n) < 0.01, "note": rng.choice(["recon", "feed", "price"], n)})
    m = FrameModel(COLS)
    m.set_frame(df)
    t = time.perf_counter()
    m.sort(col(m, "account_id"), Qt.SortOrder.AscendingOrder)
    m.sort(col(m, "value"), Qt.SortOrder.DescendingOrder)
    m.set_text_filter("recon", ["note"])
    took = time.perf_counter() - t
    vals = [m.value(r, "value") for r in range(50)]
    assert vals == sorted(vals, reverse=True)
    assert m.rowCount() == int((df["note"] == "recon").sum())
    assert took < 2.0  # generous for a shared CI box; bench/bench_ui.py measures the real numbers
