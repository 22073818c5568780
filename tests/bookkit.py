"""Small hand-built books for tests: a valid base book whose files a test can change."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

AS_OF = "2026-11-20"
# The test suite's today (tests/conftest.py fixes engine.core.clock to it): the books above stay recent.
SUITE_TODAY = date(2026, 11, 25)

BASE = {
    "securities.csv": [
        "symbol,name,asset_class,price,price_date,tags,rating,substitute_group",
        "AAA,Alpha Corp,US Equity,100.00,2026-11-20,,3,SG1",
        "AAB,Alpha Twin,US Equity,50.00,2026-11-20,,4,SG1",
        "BBB,Beta Bonds,US Bonds,20.00,2026-11-20,,2,",
        "TOB,Tobacco Inc,US Equity,40.00,2026-11-20,tobacco,6,",
        "OIL,Oil Co,US Equity,80.00,2026-11-20,energy,5,",
    ],
    "models.csv": [
        "model_id,symbol,weight",
        "GROWTH,AAA,0.58",
        "GROWTH,OIL,0.10",
        "GROWTH,BBB,0.30",
        "GROWTH,CASH,0.02",
        "INCOME,BBB,0.78",
        "INCOME,AAA,0.20",
        "INCOME,CASH,0.02",
    ],
    "accounts.csv": [
        "account_id,name,model_id,custodian,cash,taxable,st_rate,lt_rate,last_trade_date,restrictions,group",
        "A1,Smith Trust,GROWTH,SCHWAB,2000,true,0.37,0.20,2026-06-01,,",
        "A2,Jones IRA,INCOME,FIDELITY,1000,false,,,,,",
        "A3,Lee Family,GROWTH,SCHWAB,5000,true,0.37,0.20,,tag:tobacco,",
    ],
    "lots.csv": [
        "account_id,lot_id,symbol,quantity,unit_cost,acquired_date",
        "A1,L1,AAA,500,80.00,2020-01-15",
        "A1,L2,AAA,100,120.00,2026-09-01",
        "A1,L3,BBB,1500,21.00,2023-03-01",
        "A2,L1,BBB,3000,19.00,2022-05-05",
        "A3,L1,AAA,300,90.00,2021-02-02",
        "A3,L2,TOB,100,30.00,2020-02-02",
        "A3,L3,BBB,800,20.50,2024-01-10",
    ],
    "custodian_positions.csv": [
        "account_id,symbol,quantity",
        "A1,AAA,600",
        "A1,BBB,1500",
        "A2,BBB,3000",
        "A3,AAA,300",
        "A3,TOB,100",
        "A3,BBB,800",
    ],
    "feeds.csv": [
        "custodian,file_date,status",
        "SCHWAB,2026-11-20,ok",
        "FIDELITY,2026-11-20,ok",
    ],
    "transactions.csv": [
        "account_id,symbol,trade_date,side,quantity,price,realized_gain",
        "A1,AAA,2026-09-01,BUY,100,120.00,",
    ],
    "cash_requests.csv": [
        "request_id,account_id,amount,due_date,priority,note",
        "CR1,A2,5000,2026-11-25,normal,quarterly distribution",
    ],
    "corporate_actions.csv": [
        "symbol,effective_date,kind,ratio,new_symbol,processed",
        "AAA,2025-06-01,split,2,,true",
    ],
}


def write_book(folder: Path, as_of: str = AS_OF, changes: dict[str, list[str] | None] | None = None,
               append: dict[str, list[str]] | None = None) -> Path:
    """Write the base book into ``folder``; ``changes`` replaces whole files (None removes one),
    ``append`` adds data lines to a file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {k: list(v) for k, v in BASE.items()}
    for name, lines in (changes or {}).items():
        if lines is None:
            files.pop(name, None)
        else:
            files[name] = list(lines)
    for name, lines in (append or {}).items():
        files[name] = files[name] + list(lines)
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"as_of": as_of}), encoding="utf-8")
    return folder


def eager_policy():
    """The default policy with the first release's thresholds (a sixth of today's) and trading
    costs ($1 a ticket, $500 minimum trade, every line kept, a harvest pays for two legs): A1
    trades on score."""
    from engine.core.policy import default_policy

    pol = default_policy()
    return pol.model_copy(update={"tiers": tuple(t.model_copy(update={
        "threshold_start_bps": t.threshold_start_bps / 6, "threshold_floor_bps": t.threshold_floor_bps / 6})
        for t in pol.tiers), "trading": pol.trading.model_copy(update={
            "ticket_cost": 1.0, "min_trade_dollars": 500.0, "harvest_min_loss_pct": 0.05,
            "harvest_min_loss_dollars": 1000.0, "drop_unpaid_lines": False, "min_drift_trade_dollars": 0.0}),
        "harvest": pol.harvest.model_copy(update={"round_trip": False})})
