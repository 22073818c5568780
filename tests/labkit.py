"""Small books for the policy-lab tests: a hand-built book imported into a SQLite file, read
back as the lab reads it."""
from __future__ import annotations

from pathlib import Path

from bookkit import write_book

HARVEST = {
    # one taxable account whose AAA lot is at a 1/3 loss; AAB is AAA's substitute (SG1)
    "accounts.csv": ["account_id,name,model_id,custodian,cash,taxable,st_rate,lt_rate,last_trade_date,restrictions,group",
                     "H1,Harvest,GROWTH,SCHWAB,2000,true,0.37,0.20,2026-06-01,,"],
    "lots.csv": ["account_id,lot_id,symbol,quantity,unit_cost,acquired_date",
                 "H1,L1,AAA,580,150.00,2025-01-15", "H1,L2,OIL,125,80.00,2024-01-15",
                 "H1,L3,BBB,1500,20.00,2023-03-01"],
    "custodian_positions.csv": ["account_id,symbol,quantity", "H1,AAA,580", "H1,OIL,125", "H1,BBB,1500"],
    "transactions.csv": ["account_id,symbol,trade_date,side,quantity,price,realized_gain"],
    "cash_requests.csv": ["request_id,account_id,amount,due_date,priority,note"],
}


def imported(tmp_path: Path, changes: dict | None = None, append: dict | None = None, db: str | None = None):
    """(database, LabBook) of the bookkit book with ``changes``."""
    from engine.book.importer import import_book
    from engine.lab import load_book
    from storage.db import make_engine

    folder = write_book(tmp_path / "book", changes=changes, append=append)
    db = db or str(tmp_path / "book.db")
    eng = make_engine(db)
    try:
        import_book(eng, folder, user="tester")
        return db, load_book(eng)
    finally:
        eng.dispose()


def write_prices(path: Path, rows: list[tuple[str, str, float]]) -> Path:
    path.write_text("date,symbol,close\n" + "".join(f"{d},{s},{c}\n" for d, s, c in rows), encoding="utf-8")
    return path
