"""Decision rules through the day's run (both databases): a band mandate trades and is routed as
MANDATE, a band it cannot reach is flagged with why (never WAITING:band with no trades), and a
proposal's detail shows the harvest value next to the tax saved."""
import json

from sqlalchemy import select

from bookkit import write_book
from engine.book.importer import import_book
from engine.decide.overrides import add_halt
from engine.decide.workflow import run_workflow
from storage import compact_detail
from storage import models as m

# A1 (GROWTH: US Equity 68 %, US Bonds 30 %) holds 45 % bonds: both classes are outside their
# 5/25 bands; its equity lot has a large gain (selling bonds at a gain realizes tax too)
OUT_OF_BAND = {
    "lots.csv": [
        "account_id,lot_id,symbol,quantity,unit_cost,acquired_date",
        "A1,L1,AAA,600,80.00,2020-01-15",
        "A1,L3,BBB,2500,12.00,2023-03-01",
        "A2,L1,BBB,3000,19.00,2022-05-05",
        "A3,L1,AAA,300,90.00,2021-02-02",
        "A3,L2,TOB,100,30.00,2020-02-02",
        "A3,L3,BBB,800,20.50,2024-01-10",
    ],
    "custodian_positions.csv": [
        "account_id,symbol,quantity",
        "A1,AAA,600", "A1,BBB,2500", "A2,BBB,3000", "A3,AAA,300", "A3,TOB,100", "A3,BBB,800",
    ],
}


def details(engine, run_id):
    with engine.connect() as conn:
        rows = conn.execute(select(m.Proposal.account_id, m.Proposal.category, m.Proposal.reasons,
                                   m.Proposal.id).where(m.Proposal.run_id == run_id)).all()
        text = compact_detail.texts_of(conn, [pid for *_, pid in rows])
    return {a: (c, r or "", json.loads(text[pid]) if pid in text else None) for a, c, r, pid in rows}


def inside(d):
    w = d["class_weights_post"]
    return all(lo - 1e-9 <= w.get(c, 0.0) <= hi + 1e-9 for c, (lo, hi) in d["class_bands"].items())


def test_band_mandate_trades_and_comes_out_inside(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "b", changes=OUT_OF_BAND), user="t")
    out = run_workflow(engine, workers=1, user="t")
    cat, reasons, d = details(engine, out.run_id)["A1"]
    assert cat == "MANDATE" and "MANDATE:band" in reasons and "WAITING" not in reasons
    assert inside(d) and not inside({**d, "class_weights_post": d["class_weights_pre"]})
    assert out.proposals.set_index("account_id").at["A1", "tax_cost"] > 0  # it realized tax to get there
    assert {"harvest_value", "tax_saved"} <= set(d)


def test_unreachable_band_is_flagged_not_waiting(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "b", changes=OUT_OF_BAND), user="t")
    add_halt(engine, "BBB", None, "exchange halt", mode="freeze", user="t")
    out = run_workflow(engine, workers=1, user="t")
    cat, reasons, d = details(engine, out.run_id)["A1"]
    assert "WAITING:band" not in reasons
    assert "BAND_UNREACHABLE: US Bonds (cannot sell BBB: halted or frozen)" in reasons.split(";")
    # what it can reach it still does: equity is bought with the cash it has, or it does not trade
    assert cat in ("MANDATE", "NO_TRADE")
