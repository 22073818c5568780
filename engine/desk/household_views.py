"""The console's read-only views of households (accounts.csv ``household_id``): the household
list with combined value, asset-class weights against the value-weighted blend of the members'
models, realized gains this year and pending trades; a household's members; account names and
households for the filters. Reads the latest book (through the snapshot cache) and run."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from engine.core.frames import holdings
from storage import models as m
from storage import repo
from storage.bulk import read_frame

PENDING_STATUSES = ("PROPOSED", "APPROVED", "PENDING_APPROVAL")


def _latest_run(conn) -> int | None:
    t = m.Run.__table__
    return conn.execute(select(t.c.id).where(t.c.status == "done").order_by(t.c.id.desc()).limit(1)).scalar()


def run_snapshot(conn, run_id: int | None) -> int | None:
    """The book snapshot a run decided on (None: no such run)."""
    t = m.Run.__table__
    return conn.execute(select(t.c.snapshot_id).where(t.c.id == (run_id or -1))).scalar()


def account_directory(engine_or_conn, snapshot_id: int | None = None) -> pd.DataFrame:
    """DataFrame[account_id, name, household_id] of a book (the latest by default), for the
    filters that find accounts by id, client name or household."""
    def read(conn):
        snap = repo.snapshot_info(conn, snapshot_id)
        if snap is None:
            return pd.DataFrame({"account_id": [], "name": [], "household_id": []}, dtype=object)
        a = m.Account.__table__
        return read_frame(conn, select(a.c.account_id, a.c.name, a.c.household_id).where(a.c.snapshot_id == snap.id))
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return read(conn)
    return read(engine_or_conn)


def _class_weights(frames: dict[str, pd.DataFrame], accounts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(held $ per account and asset class incl. CASH, model weight per model and class incl. CASH)."""
    sec = frames["securities"].set_index("symbol")
    lots = frames["lots"][frames["lots"]["account_id"].isin(set(accounts["account_id"]))]
    hold = holdings(lots)
    hold["asset_class"] = hold["symbol"].map(sec["asset_class"]).fillna("Unknown")
    px = pd.to_numeric(hold["symbol"].map(sec["price"]), errors="coerce").fillna(0.0)
    hold["value"] = hold["quantity"].astype(float) * px
    held = hold.groupby(["account_id", "asset_class"], as_index=False)["value"].sum()
    cash = pd.DataFrame({"account_id": accounts["account_id"], "asset_class": "CASH",
                         "value": accounts["cash"].astype(float)})
    held = pd.concat([held, cash], ignore_index=True)
    mw = frames["model_weights"].copy()
    mw["asset_class"] = np.where(mw["symbol"] == "CASH", "CASH", mw["symbol"].map(sec["asset_class"]).fillna("Unknown"))
    model = mw.groupby(["model_id", "asset_class"], as_index=False)["weight"].sum()
    return held, model


def households(engine: Engine) -> dict:
    """The Households panel's data on the latest book and run:

    ``households``: one row per household (id, accounts, names, value, taxable value, largest
    class gap in points, realized gain this year, pending trades, members without good data);
    ``members``: one row per member (account_id, name, household_id, model_id, taxable, value,
    category, status, pending trades); ``classes``: household_id, asset_class, weight, target
    (the value-weighted blend of the members' models). Empty frames on a book without households."""
    with engine.connect() as conn:
        snap = repo.snapshot_info(conn)
        if snap is None:
            return {"households": pd.DataFrame(), "members": pd.DataFrame(), "classes": pd.DataFrame(), "as_of": None}
        frames = repo.read_book_frames(conn, snap.id)
        run_id = _latest_run(conn)
        p, t = m.Proposal.__table__, m.Trade.__table__
        props = read_frame(conn, select(p.c.account_id, p.c.category, p.c.status, p.c.value, p.c.reasons)
                           .where(p.c.run_id == (run_id or -1)))
        pend = read_frame(conn, select(t.c.account_id, t.c.id).where(
            t.c.snapshot_id == snap.id, t.c.batch_id.is_(None), t.c.status.in_(PENDING_STATUSES)))
    acc = frames["accounts"]
    acc = acc[acc["household_id"].notna() & (acc["household_id"].astype(str) != "")].copy()
    if not len(acc):
        return {"households": pd.DataFrame(), "members": pd.DataFrame(), "classes": pd.DataFrame(),
                "as_of": snap.as_of}
    held, model = _class_weights(frames, acc)
    value = held.groupby("account_id")["value"].sum()
    acc["value"] = acc["account_id"].map(value).fillna(0.0).astype(float)
    pos = props.set_index("account_id") if len(props) else pd.DataFrame(columns=["category", "status", "value"])
    acc["category"] = acc["account_id"].map(pos["category"]).fillna("") if len(pos) else ""
    acc["status"] = acc["account_id"].map(pos["status"]).fillna("") if len(pos) else ""
    acc["pending_trades"] = acc["account_id"].map(pend.groupby("account_id").size()).fillna(0).astype(int) \
        if len(pend) else 0
    tx = frames["transactions"]
    year = str(snap.as_of.year)
    tx = tx[(tx["side"] == "SELL") & tx["trade_date"].astype(str).str.startswith(year)]
    gains = pd.to_numeric(tx["realized_gain"], errors="coerce").groupby(tx["account_id"]).sum()
    acc["realized_ytd"] = acc["account_id"].map(gains).fillna(0.0).astype(float)
    members = acc[["account_id", "name", "household_id", "model_id", "taxable", "value", "category", "status",
                   "pending_trades", "realized_ytd"]].reset_index(drop=True)
    # combined class weights against the value-weighted blend of the members' models
    hh_of = dict(zip(acc["account_id"], acc["household_id"]))
    held["household_id"] = held["account_id"].map(hh_of)
    hv = held.groupby(["household_id", "asset_class"], as_index=False)["value"].sum()
    total = acc.groupby("household_id")["value"].sum()
    hv["weight"] = hv["value"] / hv["household_id"].map(total).replace(0.0, np.nan)
    blend = acc[["household_id", "model_id", "value"]].merge(model, on="model_id")
    blend["w"] = blend["weight"] * blend["value"]
    tgt = blend.groupby(["household_id", "asset_class"], as_index=False)["w"].sum()
    tgt["target"] = tgt["w"] / tgt["household_id"].map(total).replace(0.0, np.nan)
    classes = hv[["household_id", "asset_class", "weight"]].merge(
        tgt[["household_id", "asset_class", "target"]], on=["household_id", "asset_class"], how="outer")
    classes[["weight", "target"]] = classes[["weight", "target"]].fillna(0.0)
    classes["gap"] = classes["weight"] - classes["target"]
    classes = classes.sort_values(["household_id", "target"], ascending=[True, False], kind="stable")
    g = acc.groupby("household_id")
    no_data = acc["category"].eq("SUSPENDED")
    out = pd.DataFrame({
        "household_id": total.index,
        "n_accounts": g.size().reindex(total.index).to_numpy(),
        "accounts": g["account_id"].agg(", ".join).reindex(total.index).to_numpy(),
        "names": g["name"].agg(lambda s: "; ".join(str(x) for x in s if isinstance(x, str))).reindex(total.index)
        .to_numpy(),
        "value": total.to_numpy(float),
        "taxable_value": acc[acc["taxable"].astype(bool)].groupby("household_id")["value"].sum()
        .reindex(total.index).fillna(0.0).to_numpy(float),
        "max_gap": classes.assign(a=classes["gap"].abs()).groupby("household_id")["a"].max()
        .reindex(total.index).fillna(0.0).to_numpy(float),
        "realized_ytd": g["realized_ytd"].sum().reindex(total.index).to_numpy(float),
        "pending_trades": g["pending_trades"].sum().reindex(total.index).to_numpy(int),
        "suspended": acc[no_data].groupby("household_id")["account_id"].agg(", ".join)
        .reindex(total.index).fillna("").to_numpy(object),
    })
    out = out.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)
    return {"households": out, "members": members, "classes": classes.reset_index(drop=True), "as_of": snap.as_of}
