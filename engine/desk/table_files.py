"""Any table of the console as a file or as clipboard text: CSV, XLSX, tab-separated.

The console's tables hand over what they show (the visible columns, titled as on screen, the
visible rows in their order, raw values: numbers stay numbers); text cells are made
spreadsheet-safe (:func:`engine.core.safe_text.cell_safe`) and files are written atomically.
"""
from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.files import atomic_write_bytes
from engine.core.safe_text import cell_safe, printable
from engine.core.tasks import RefusedError

TABLE_FORMATS = ("csv", "xlsx")


def _plain(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def table_rows(frame: pd.DataFrame) -> list[list]:
    return [[_plain(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def tsv_text(frame: pd.DataFrame) -> str:
    """Tab-separated, header first: what a spreadsheet pastes into columns."""
    def cell(v):
        v = _plain(v)
        return "" if v is None else printable(str(v)).replace("\t", " ")
    lines = ["\t".join(cell(c) for c in frame.columns)]
    lines += ["\t".join(cell(v) for v in row) for row in table_rows(frame)]
    return "\n".join(lines) + "\n"


def table_bytes(frame: pd.DataFrame, fmt: str, sheet: str = "Table") -> bytes:
    if fmt == "csv":
        safe = pd.DataFrame([[cell_safe(v) for v in row] for row in table_rows(frame)], columns=list(frame.columns))
        buf = io.StringIO()
        safe.to_csv(buf, index=False, lineterminator="\n")
        return buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        from engine.core.safe_text import sheet_titles

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(title=sheet_titles([sheet])[sheet])
        ws.append([cell_safe(str(c)) for c in frame.columns])
        for row in table_rows(frame):
            ws.append([cell_safe(v) for v in row])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise RefusedError(f"unknown table format {fmt!r}; use {', '.join(TABLE_FORMATS)}")


def write_table(frame: pd.DataFrame, path: str | Path, sheet: str = "Table") -> str:
    """Write ``frame`` to ``path`` (CSV or XLSX by its suffix) atomically; returns its SHA-256."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in TABLE_FORMATS:
        raise RefusedError(f"{path.name}: save a table as .csv or .xlsx")
    if not path.parent.is_dir():
        raise RefusedError(f"{path.parent} is not a folder")
    return atomic_write_bytes(path, table_bytes(frame, fmt, sheet))
