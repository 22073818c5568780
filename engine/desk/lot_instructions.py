"""Lot instructions of a batch (CONTRACT.md §3): how many shares each sell takes from each tax lot.

A trade's ``lots`` column (``LOT:shares;LOT:shares``, written by the run or the manual-trade
entry) is the one source: the trades file's ``lots`` column, the ``lots_<batch_id>.csv`` file
(one row per lot relieved) and the FIX tag :data:`FIX_LOTS_TAG` are all derived from it, so they
agree share for share.
"""
from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from storage import models as m
from storage.columnar import columns_frame, read_columns, text_in

# a user-defined FIX tag (the 20000-39999 range is for bilateral use) carrying the lots of a sell,
# in the trades file's format: LOT:shares;LOT:shares
FIX_LOTS_TAG = 20001
LOTS_COLUMNS = ["batch_id", "account_id", "custodian", "symbol", "lot_id", "quantity", "unit_cost",
                "acquired_date", "term", "est_gain"]


def parse_lots(text) -> list[tuple[str, int]]:
    """``"L1:10;L2:5"`` -> ``[("L1", 10), ("L2", 5)]`` (blank -> ``[]``)."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return []
    out = []
    for item in str(text).split(";"):
        lot, _, q = item.rpartition(":")
        out.append((lot, int(q)))
    return out


def merge_lots(parts) -> str:
    """The lots of several trades of one order line, one entry per lot (shares added up), in the
    order the lots are first named."""
    shares: dict[str, int] = {}
    for part in parts:
        for lot, q in parse_lots(part):
            shares[lot] = shares.get(lot, 0) + q
    return ";".join(f"{lot}:{q}" for lot, q in shares.items())


def lot_ids(lots: str) -> str:
    """The ``lot_id`` column of a line: its lots' ids, ``;``-separated."""
    return ";".join(lot for lot, _ in parse_lots(lots))


def lot_rows(conn, trades: pd.DataFrame, batch_id: str) -> pd.DataFrame:
    """One row per lot relieved by the batch's sells (LOTS_COLUMNS): the lot's cost and date from
    the book the trade was made on, its term (ST: held a year or less at that book's as_of) and
    the estimated gain at the trade's estimated price."""
    sells = trades[(trades["side"] == "SELL") & trades["lots"].notna() & (trades["lots"].fillna("") != "")]
    if not len(sells):
        return pd.DataFrame(columns=LOTS_COLUMNS)
    # one row per lot named (LOT:shares;LOT:shares), split in Arrow: each part at its last ":"
    named = pc.split_pattern(pa.array(sells["lots"].astype(str).tolist(), pa.string()), ";")
    halves = pc.split_pattern(pc.list_flatten(named), ":", max_splits=1, reverse=True)
    if len(halves) and pc.min(pc.list_value_length(halves)).as_py() < 2:
        raise ValueError("a sell's lots name a lot without its shares (LOT:shares)")
    at = np.repeat(np.arange(len(sells)), pc.list_value_length(named).to_numpy())
    df = sells[["account_id", "custodian", "symbol", "snapshot_id", "est_price"]].iloc[at].reset_index(drop=True)
    df = df.assign(seq=at, lot_id=pc.list_element(halves, 0).to_numpy(zero_copy_only=False).astype(object),
                   quantity=pc.cast(pc.list_element(halves, 1), pa.int64()).to_numpy(),
                   snapshot_id=df["snapshot_id"].astype(int))
    L = m.Lot.__table__
    S = m.BookSnapshot.__table__
    book = []
    for snap, g in df.groupby("snapshot_id"):
        # one set-based query per book (storage.columnar.text_in: the accounts as one parameter),
        # read column by column, not one query per 5,000 accounts through Row objects
        accounts = g["account_id"].unique().tolist()
        book.append(columns_frame(read_columns(conn, select(
            L.c.snapshot_id, L.c.account_id, L.c.lot_id, L.c.unit_cost, L.c.acquired_date, S.c.as_of)
            .join(S, S.c.id == L.c.snapshot_id)
            .where(L.c.snapshot_id == int(snap), text_in(conn, L.c.account_id, accounts)))))
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
    g["acquired_date"] = _date_text(g["acquired_date"])
    return g.assign(batch_id=batch_id)[LOTS_COLUMNS].reset_index(drop=True)


def _date_text(dates: pd.Series) -> list[str]:
    """``str(d)[:10]`` of each date ('' when missing), formatted once per distinct date (a batch's
    lots have a few thousand dates among hundreds of thousands of rows)."""
    values = dates.tolist()
    text = {d: "" if d is None or pd.isna(d) else str(d)[:10] for d in set(values)}
    return [text[d] for d in values]


def lots_csv_bytes(rows: pd.DataFrame) -> bytes:
    from engine.core.safe_text import frame_cells_safe

    buf = io.StringIO()
    frame_cells_safe(rows[LOTS_COLUMNS], ["batch_id", "account_id", "custodian", "symbol", "lot_id", "term",
                                          "acquired_date"]).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")
