"""The batch writers the column-wise ones replaced (engine.desk.exporter at 5a82b4c), kept as the
reference the tests compare against: pandas ``to_csv`` for the trades CSV, :func:`fix_message`
one message at a time for FIX, XlsxWriter cell by cell for XLSX."""
from __future__ import annotations

import io

from engine.core.safe_text import frame_cells_safe, sheet_titles
from engine.desk.exporter import CSV_COLUMNS, FIX_LOTS_TAG, SENDER, TEXT_COLUMNS, fix_message


def csv_bytes(lines, batch_id: str) -> bytes:
    out = lines.assign(batch_id=batch_id)[CSV_COLUMNS].copy()
    out["est_price"] = out["est_price"].round(4)
    out = frame_cells_safe(out, TEXT_COLUMNS)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def fix_bytes(lines, batch_id: str, when) -> bytes:
    stamp = when.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    cols = [lines[c].astype(object).tolist() for c in ("account_id", "custodian", "symbol", "side", "quantity",
                                                       "lots")]
    out = []
    for seq, (acc, cust, sym, side, qty, lots) in enumerate(zip(*cols), 1):
        extra = [(FIX_LOTS_TAG, lots)] if lots else []
        out.append(fix_message([(35, "D"), (49, SENDER), (56, cust), (34, seq), (52, stamp),
                                (11, f"{batch_id}-{seq:06d}"), (1, acc), (21, 1), (55, sym),
                                (54, 1 if side == "BUY" else 2), (60, stamp), (38, int(qty)), (40, 1)] + extra))
    return b"\n".join(out) + (b"\n" if out else b"")


def xlsx_bytes(lines, batch_id: str) -> bytes:
    import tempfile

    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True, "tmpdir": tempfile.gettempdir(),
                                   "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    groups = list(lines.groupby("custodian", sort=True))
    titles = sheet_titles(cust for cust, _ in groups)
    for cust, g in groups:
        ws = wb.add_worksheet(titles[cust])
        ws.write_row(0, 0, CSV_COLUMNS)
        out = frame_cells_safe(g.assign(batch_id=batch_id)[CSV_COLUMNS], TEXT_COLUMNS)
        writers = []
        for c in CSV_COLUMNS:
            values = out[c].astype(object).tolist()
            if c in TEXT_COLUMNS:
                writers.append((ws.write_string, [v if isinstance(v, str) else None for v in values]))
            else:
                writers.append((ws.write_number, [None if v is None or v != v else v for v in values]))
        for r in range(len(out)):
            for j, (write, values) in enumerate(writers):
                v = values[r]
                if v is not None and v != "":
                    write(r + 1, j, v)
    wb.close()
    return buf.getvalue()
