"""The batch writers the column-wise ones replaced (engine.desk.exporter at 5a82b4c), kept as the
reference the tests compare against: pandas ``to_csv`` for the trades CSV, :func:`fix_message`
one message at a time for FIX, XlsxWriter cell by cell for XLSX, the lots file's rows read one
query per 5,000 accounts (engine.desk.lot_instructions at 5a82b4c)."""
from __future__ import annotations

import io

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.core.safe_text import frame_cells_safe, sheet_titles
from engine.desk.exporter import CSV_COLUMNS, FIX_LOTS_TAG, SENDER, TEXT_COLUMNS, fix_message
from engine.desk.lot_instructions import LOTS_COLUMNS
from storage import models as m
from storage.bulk import in_chunks, read_frame


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


def lot_rows(conn, trades: pd.DataFrame, batch_id: str) -> pd.DataFrame:
    """One row per lot relieved by the batch's sells (LOTS_COLUMNS): the lot's cost and date from
    the book the trade was made on, its term (ST: held a year or less at that book's as_of) and
    the estimated gain at the trade's estimated price."""
    sells = trades[(trades["side"] == "SELL") & trades["lots"].notna() & (trades["lots"].fillna("") != "")]
    if not len(sells):
        return pd.DataFrame(columns=LOTS_COLUMNS)
    df = sells[["account_id", "custodian", "symbol", "snapshot_id", "est_price"]].assign(
        lot=sells["lots"].astype(str).str.split(";"), seq=np.arange(len(sells))).explode("lot")
    parts = [str(x).rpartition(":") for x in df["lot"].tolist()]
    df = df.assign(lot_id=[p[0] for p in parts], quantity=np.array([int(p[2]) for p in parts], dtype=np.int64),
                   snapshot_id=df["snapshot_id"].astype(int))
    df = df.drop(columns="lot").reset_index(drop=True)
    L = m.Lot.__table__
    S = m.BookSnapshot.__table__
    book = []
    for snap, g in df.groupby("snapshot_id"):
        for chunk in in_chunks(g["account_id"].unique().tolist()):
            book.append(read_frame(conn, select(L.c.snapshot_id, L.c.account_id, L.c.lot_id, L.c.unit_cost,
                                                L.c.acquired_date, S.c.as_of)
                                   .join(S, S.c.id == L.c.snapshot_id)
                                   .where(L.c.snapshot_id == int(snap), L.c.account_id.in_(chunk))))
    lots = pd.concat(book, ignore_index=True)
    lots["snapshot_id"] = lots["snapshot_id"].astype(int)
    df = df.merge(lots, on=["snapshot_id", "account_id", "lot_id"], how="left")
    px = pd.to_numeric(df["est_price"], errors="coerce")
    cost = pd.to_numeric(df["unit_cost"], errors="coerce")
    df["est_gain"] = (px - cost) * df["quantity"]
    acquired = pd.to_datetime(df["acquired_date"])
    cutoff = pd.to_datetime(df["as_of"]) - timedelta(days=365)
    df["term"] = np.where(acquired.isna(), "", np.where(acquired > cutoff, "ST", "LT"))
    key = ["account_id", "symbol", "lot_id"]
    g = df.groupby(key, sort=False, as_index=False).agg(
        custodian=("custodian", "first"), quantity=("quantity", "sum"), unit_cost=("unit_cost", "first"),
        acquired_date=("acquired_date", "first"), term=("term", "first"), seq=("seq", "min"))
    g["est_gain"] = df.groupby(key, sort=False)["est_gain"].sum(min_count=1).to_numpy()
    g = g.sort_values(["account_id", "symbol", "seq"], kind="stable")
    g["est_gain"] = g["est_gain"].round(2)
    g["acquired_date"] = g["acquired_date"].map(lambda d: "" if d is None or pd.isna(d) else str(d)[:10])
    return g.assign(batch_id=batch_id)[LOTS_COLUMNS].reset_index(drop=True)
