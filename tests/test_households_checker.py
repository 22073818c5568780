"""An independent checker of household wash sales: it reads only the exported batch files and
the book folder (CSV, with pandas), knows nothing of the engine, and finds none in a whole run
of the sample book with 40 % of its accounts in households."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
import json

import pandas as pd

from bookkit import eager_policy

WINDOW = 30  # IRS: 30 days before or after the loss sale


def find_household_wash_sales(batch_dir: Path, book_dir: Path) -> list[str]:
    """Every household wash sale the batch makes, against itself and the book's recent trades."""
    read = dict(dtype=str, keep_default_na=False)
    acc = pd.read_csv(book_dir / "accounts.csv", **read)
    sec = pd.read_csv(book_dir / "securities.csv", **read)
    as_of = date.fromisoformat(json.loads((book_dir / "manifest.json").read_text())["as_of"])
    since = (as_of - timedelta(days=WINDOW)).isoformat()
    hh = {a: (h or f"own:{a}") for a, h in zip(acc["account_id"], acc.get("household_id", acc["account_id"] * 0))}
    taxable = {a: t.lower() == "true" for a, t in zip(acc["account_id"], acc["taxable"])}
    same = {s: (g or f"sym:{s}") for s, g in zip(sec["symbol"], sec.get("identical_group", sec["symbol"] * 0))}

    def key(a, s):
        return hh.get(a, f"own:{a}"), same.get(s, f"sym:{s}")

    trades = pd.concat([pd.read_csv(p, **read) for p in batch_dir.glob("trades_*.csv")])
    relieved = pd.concat([pd.read_csv(p, **read) for p in batch_dir.glob("lots_*.csv")])
    loss_now = {}  # (household, group) -> description, loss sales in the batch (taxable accounts)
    for a, s, lot, gain in zip(relieved["account_id"], relieved["symbol"], relieved["lot_id"], relieved["est_gain"]):
        if taxable[a] and float(gain) < 0:
            loss_now.setdefault(key(a, s), f"batch loss sale of {s} lot {lot} in {a}")
    restricted = {(a, s) for a, s, r in zip(trades["account_id"], trades["symbol"], trades["reason"])
                  if r == "restriction"}
    buys_now = [(a, s) for a, s, side in zip(trades["account_id"], trades["symbol"], trades["side"])
                if side == "BUY"]
    tx = pd.read_csv(book_dir / "transactions.csv", **read)
    tx = tx[tx["trade_date"] >= since]
    loss_before = {key(a, s): f"book loss sale of {s} in {a} on {d}"
                   for a, s, d, side, g in zip(tx["account_id"], tx["symbol"], tx["trade_date"], tx["side"],
                                                tx["realized_gain"])
                   if side == "SELL" and g and float(g) < 0 and taxable[a]}
    lots = pd.read_csv(book_dir / "lots.csv", **read)
    lots = lots[lots["acquired_date"] >= since]
    buys_before = {}  # (household, group) -> description, buys in the window before the batch
    for a, s, d, side in zip(tx["account_id"], tx["symbol"], tx["trade_date"], tx["side"]):
        if side == "BUY":
            buys_before.setdefault(key(a, s), f"book buy of {s} in {a} on {d}")
    for a, s, d in zip(lots["account_id"], lots["symbol"], lots["acquired_date"]):
        buys_before.setdefault(key(a, s), f"lot of {s} acquired in {a} on {d}")
    found = []
    for a, s in buys_now:
        k = key(a, s)
        for table in (loss_now, loss_before):
            if k in table:
                found.append(f"batch buy of {s} in {a} washes the {table[k]}")
    for k, what in loss_now.items():
        a = what.rsplit(" in ", 1)[1]
        s = what.split("loss sale of ", 1)[1].split(" ", 1)[0]
        if k in buys_before and (a, s) not in restricted:  # a restriction sale must go (disallowed loss)
            found.append(f"{what} is washed by the {buys_before[k]}")
    return found


def test_no_household_wash_sale_in_a_whole_run_of_the_sample_book(tmp_path):
    from engine.desk.exporter import export_batch
    from engine.book.importer import import_book
    from engine.desk.review import approve
    from engine.book.sample import generate_sample
    from engine.decide.workflow import proposals_frame, run_workflow
    from storage.db import make_engine

    book = tmp_path / "book"
    summary = generate_sample(book, accounts=200, seed=5, households=0.4)
    assert 75 <= summary["household_accounts"] <= 80
    engine = make_engine(str(tmp_path / "desk.db"))
    import_book(engine, book)
    out = run_workflow(engine, policy=eager_policy(), workers=1)
    with engine.connect() as conn:
        props = proposals_frame(conn, out.run_id)
    waiting = props.loc[props["status"] == "PROPOSED", "account_id"].tolist()
    if waiting:
        approve(engine, waiting, user="reviewer")
    batch = tmp_path / "batch"
    export_batch(engine, batch, user="exporter")
    trades = pd.concat([pd.read_csv(p) for p in batch.glob("trades_*.csv")])
    acc = pd.read_csv(book / "accounts.csv", dtype=str, keep_default_na=False)
    members = set(acc.loc[acc["household_id"] != "", "account_id"])
    assert trades["account_id"].isin(members).sum() > 10  # households trade
    # the run had household wash-sale material to avoid: planted loss sales a member's model holds
    blocked = [json.loads(d)["household"]["wash_blocks"] for d in props["detail"].dropna()
               if "household" in json.loads(d)]
    assert sum(1 for b in blocked for x in b if x["blocked"] == "BUY") >= 5
    assert find_household_wash_sales(batch, book) == []


def test_the_checker_finds_a_planted_household_wash_sale(tmp_path):
    """The checker is not blind: an IRA buy of what the joint account sold at a loss is found."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "manifest.json").write_text('{"as_of": "2026-11-20"}')
    (book / "accounts.csv").write_text("account_id,taxable,household_id\nJ1,true,SMITH\nI1,false,SMITH\n")
    (book / "securities.csv").write_text("symbol,identical_group\nAAA,ALPHA\nAAC,ALPHA\n")
    (book / "transactions.csv").write_text("account_id,symbol,trade_date,side,quantity,price,realized_gain\n"
                                           "J1,AAA,2026-11-02,SELL,10,90,-100\n")
    (book / "lots.csv").write_text("account_id,lot_id,symbol,quantity,unit_cost,acquired_date\n")
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "trades_B1.csv").write_text("account_id,symbol,side,reason\nI1,AAC,BUY,drift\n")
    (batch / "lots_B1.csv").write_text("account_id,symbol,lot_id,est_gain\n")
    assert find_household_wash_sales(batch, book) == ["batch buy of AAC in I1 washes the book loss sale of AAA "
                                                     "in J1 on 2026-11-02"]
