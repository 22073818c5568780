"""The batch's trade files written from columns (CONTRACT.md §3): the same bytes as the pandas
``to_csv`` writer and the per-message FIX writer, and the same cells as XlsxWriter's cell-by-cell
sheets, built a column at a time with string joins instead of a Python step per cell
(``tests/test_export_columns.py`` compares each with the writer it replaced on awkward text).

- CSV: each column turned to text once (numbers as pandas writes them, text quoted as the ``csv``
  module quotes it), the lines joined in one pass.
- FIX: the bodies joined from constant parts and columns, BodyLength and CheckSum for every message
  at once (the checksums summed over one buffer with numpy).
- XLSX: each sheet's XML built from columns (inline strings, numbers as XlsxWriter prints them,
  ``%.16G``), zipped with the workbook, styles, theme, properties and content-types parts of an
  XlsxWriter workbook of the same sheet titles.
"""
from __future__ import annotations

import io
import zipfile
from itertools import repeat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.core.safe_text import CONTROL_RE, frame_cells_safe

_CSV_SPECIAL = (",", '"', "\n", "\r")


def _text_cells(values: np.ndarray) -> list[str]:
    """Object values as pandas' ``to_csv`` writes them: missing -> '', else ``str``."""
    out = values.tolist()
    if set(map(type, out)) <= {str}:
        return out
    missing = pd.isna(values).tolist()
    return ["" if gap else str(v) for v, gap in zip(out, missing)]


def _csv_quoted(cells: list[str]) -> list[str]:
    """Quote a cell as ``csv.QUOTE_MINIMAL`` does (delimiter, quote or line break inside)."""
    joined = "\x00".join(cells)
    if not any(ch in joined for ch in _CSV_SPECIAL):
        return cells
    return ['"' + c.replace('"', '""') + '"' if any(ch in c for ch in _CSV_SPECIAL) else c for c in cells]


LARGE = pa.large_string()
_QUOTE_RE = '[,"\r\n]'


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, LARGE)


def arrow_text(column: pd.Series) -> pa.Array | None:
    """A text column as an Arrow large-string array, missing as '' (``None`` when some value is not
    text: the caller falls back to Python strings)."""
    try:
        if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
            arr = pa.array(column.array)
        else:
            arr = pa.array(column.to_numpy(dtype=object), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type)):
        return None
    return pc.fill_null(arr.cast(LARGE), _lit(""))


def arrow_strings(values: list[str]) -> pa.Array:
    return pa.array(values, type=LARGE)


def joined(parts: list, sep: str = "") -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and ``str`` constants, with ``sep`` between."""
    return pc.binary_join_element_wise(*[_lit(x) if isinstance(x, str) else x for x in parts], _lit(sep))


def arrow_bytes(arr: pa.Array) -> bytes:
    """The values of a string array without nulls, back to back (its data buffer)."""
    if not len(arr):
        return b""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32)
    lo, hi = offsets[arr.offset], offsets[arr.offset + len(arr)]
    return arr.buffers()[2].to_pybytes()[lo:hi]


def _number_text(values: np.ndarray) -> list[str]:
    """A number column as pandas' ``to_csv`` writes it without a ``float_format``: a float's shortest
    repr (what numpy's ``astype(str)`` gives), an int as is, NaN -> ''."""
    if values.dtype.kind in "iub":
        return values.astype(str).tolist() if values.dtype.kind == "b" else list(map(str, values.tolist()))
    out = list(map(repr, values.astype(np.float64).tolist()))
    nan = np.isnan(values.astype(np.float64))
    if nan.any():
        for i in np.flatnonzero(nan).tolist():
            out[i] = ""
    return out


def csv_bytes(frame: pd.DataFrame, columns: list[str], text_columns: list[str]) -> bytes:
    """``frame[columns]`` as ``to_csv(index=False, lineterminator="\\n")`` writes it, ``text_columns``
    spreadsheet-safe (engine.core.safe_text.cell_safe), in UTF-8: each column turned to text once,
    the rows joined element-wise by Arrow (C++), not a Python step per cell."""
    safe = frame_cells_safe(frame[columns], [c for c in text_columns if c in columns])
    header = ",".join(_csv_quoted(list(columns))) + "\n"
    if not len(safe):
        return header.encode("utf-8")
    cells = []
    for c in columns:
        arr = safe[c].to_numpy() if safe[c].dtype.kind in "fiub" else None
        if arr is not None:
            cells.append(arrow_strings(_number_text(arr)))
            continue
        text = arrow_text(safe[c])
        if text is None:  # not all text: each value as pandas writes it
            text = arrow_strings(_text_cells(safe[c].to_numpy(dtype=object)))
        if pc.any(pc.match_substring_regex(text, _QUOTE_RE)).as_py():  # the few cells to quote
            text = arrow_strings(_csv_quoted(text.to_pylist()))
        cells.append(text)
    rows = joined([joined(cells, ","), "\n"])
    return header.encode("utf-8") + arrow_bytes(rows)


# ---------------------------------------------------------------------------------------------- FIX

_CHECKSUM = [f"10={s:03d}\x01\n" for s in range(256)]


def fix_columns(lines: pd.DataFrame) -> list[pa.Array] | None:
    """The FIX message's text columns (account_id, custodian, symbol, side, lots) as Arrow
    arrays, when every value passes :func:`engine.core.safe_text.fix_value` (text, not empty but
    for a buy's lots, no control character) and every side is BUY or SELL; else ``None`` (the
    per-message writer then names the value it refuses)."""
    out = []
    for c, blank_ok in (("account_id", False), ("custodian", False), ("symbol", False), ("side", False),
                        ("lots", True)):
        col = lines[c]
        if not blank_ok and col.isna().any():
            return None
        arr = arrow_text(col.fillna("") if blank_ok else col)
        if arr is None or not len(arr):
            return None
        if not blank_ok and pc.any(pc.equal(arr, _lit(""))).as_py():
            return None
        if CONTROL_RE.search(arrow_bytes(arr).decode("utf-8")):
            return None
        out.append(arr)
    if not pc.all(pc.is_in(out[3], value_set=pa.array(["BUY", "SELL"], type=LARGE))).as_py():
        return None
    return out


def fix_bytes(lines: pd.DataFrame, batch_id: str, stamp: str, sender: str, lots_tag: int) -> bytes | None:
    """Every NewOrderSingle of the batch at once, the bytes
    :func:`engine.desk.exporter.fix_message` writes for each, one message a line: the bodies
    joined element-wise from constants and columns by Arrow, BodyLength their UTF-8 lengths,
    CheckSum summed over one buffer with numpy. ``None`` when a value must be refused (see
    :func:`fix_columns`)."""
    n = len(lines)
    if not n:
        return b""
    cols = fix_columns(lines)
    if cols is None:
        return None
    acc, cust, sym, side, lots = cols
    qty = lines["quantity"].to_numpy()
    if qty.dtype.kind not in "iu":  # int(qty) of each, as the per-message writer does
        qty = np.asarray(qty, dtype=np.float64)
        if not np.isfinite(qty).all():
            return None  # the per-message writer refuses it
        qty = np.trunc(qty)
    qty = qty.astype(np.int64)
    seq = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(LARGE)
    clord = joined([f"{batch_id}-", pc.utf8_lpad(seq, 6, "0")])  # f"{batch_id}-{seq:06d}"
    side_code = pc.if_else(pc.equal(side, _lit("BUY")), _lit("1"), _lit("2"))
    lots_field = pc.if_else(pc.equal(lots, _lit("")), _lit(""), joined([f"{lots_tag}=", lots, "\x01"]))
    bodies = joined([f"35=D\x0149={sender}\x0156=", cust, "\x0134=", seq, f"\x0152={stamp}\x0111=", clord,
                     "\x011=", acc, "\x0121=1\x0155=", sym, "\x0154=", side_code, f"\x0160={stamp}\x0138=",
                     pa.array(qty).cast(LARGE), "\x0140=1\x01", lots_field])
    msgs = joined(["8=FIX.4.4\x019=", pc.binary_length(bodies).cast(LARGE), "\x01", bodies])
    data = arrow_bytes(msgs)
    sizes = pc.binary_length(msgs).to_numpy()
    starts = np.concatenate(([0], np.cumsum(sizes[:-1])))
    sums = np.add.reduceat(np.frombuffer(data, dtype=np.uint8), starts, dtype=np.uint8)  # modulo 256
    tails = pa.array(_CHECKSUM, type=LARGE).take(pa.array(sums.astype(np.int64)))
    return arrow_bytes(joined([msgs, tails]))


# --------------------------------------------------------------------------------------------- XLSX

_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
               'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
               '<dimension ref="{dim}"/><sheetViews><sheetView {selected}workbookViewId="0"/></sheetViews>'
               '<sheetFormatPr defaultRowHeight="15"/>')
_SHEET_TAIL = ('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
               '</worksheet>')


def _letters(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def _xml_text(cells: list[str]) -> list[str]:
    joined = "".join(cells)
    if "&" not in joined and "<" not in joined and ">" not in joined:
        return cells
    return [c.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for c in cells]


def _string_cells(letter: str, rows: list[str], values: list) -> list[str]:
    """The inline-string cells of one column ('' where the cell is blank: None or '')."""
    text = [v if isinstance(v, str) else "" for v in values]
    text = [v[:32767] for v in text] if any(len(v) > 32767 for v in text) else text  # XlsxWriter's limit
    body = _xml_text(text)
    space = ['xml:space="preserve">' if v[:1].isspace() or v[-1:].isspace() else ">" for v in text]
    cells = list(map("".join, zip(repeat(f'<c r="{letter}'), rows, repeat('" t="inlineStr"><is><t '), space, body,
                                  repeat("</t></is></c>"))))
    return [c if v else "" for c, v in zip(cells, text)]


def _number_cells(letter: str, rows: list[str], values) -> list[str]:
    """Number cells as XlsxWriter writes them (``%.16G``); a missing number is a blank cell."""
    arr = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float64)
    out = [""] * len(arr)
    keep = np.flatnonzero(~np.isnan(arr))
    vals = arr.tolist()
    for i in keep.tolist():
        out[i] = f'<c r="{letter}{rows[i]}"><v>{vals[i]:.16G}</v></c>'
    return out


def _sheet_xml(header: list[str], frame: pd.DataFrame, text_columns: list[str], selected: bool) -> bytes:
    n = len(frame)
    rows = list(map(str, range(2, n + 2)))
    cols = []
    for j, c in enumerate(header):
        letter = _letters(j)
        values = frame[c].to_numpy()
        if c in text_columns:
            cols.append(_string_cells(letter, rows, values.tolist()))
        else:
            cols.append(_number_cells(letter, rows, values))
    head_cells = "".join(_string_cells(_letters(j), ["1"], [h])[0] for j, h in enumerate(header))
    lines = map("".join, zip(repeat('<row r="'), rows, repeat('">'), *cols, repeat("</row>")))
    dim = f"A1:{_letters(len(header) - 1)}{n + 1}"
    return (_SHEET_HEAD.format(dim=dim, selected='tabSelected="1" ' if selected else "")
            + '<sheetData><row r="1">' + head_cells + "</row>" + "".join(lines) + "</sheetData>"
            + _SHEET_TAIL).encode("utf-8")


def xlsx_bytes(sheets: list[tuple[str, pd.DataFrame]], header: list[str], text_columns: list[str]) -> bytes:
    """A workbook of one sheet per (title, frame): the header row, then the frame's ``header``
    columns (``text_columns`` as spreadsheet-safe text, the others as numbers). Titles must be
    legal and unique (engine.core.safe_text.sheet_titles)."""
    import tempfile

    import xlsxwriter

    shell = io.BytesIO()  # the parts around the sheets, as XlsxWriter writes them
    wb = xlsxwriter.Workbook(shell, {"constant_memory": True, "tmpdir": tempfile.gettempdir()})
    for title, _ in sheets:
        wb.add_worksheet(title)
    wb.close()
    out = io.BytesIO()
    with zipfile.ZipFile(shell) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        names = {f"xl/worksheets/sheet{k}.xml": k - 1 for k in range(1, len(sheets) + 1)}
        for info in src.infolist():
            if info.filename in names:
                k = names[info.filename]
                frame = frame_cells_safe(sheets[k][1][header], text_columns)
                data = _sheet_xml(header, frame, text_columns, k == 0)
            else:
                data = src.read(info.filename)
            z = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            z.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(z, data, compresslevel=1)
    return out.getvalue()
