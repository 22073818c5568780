"""Proposal detail in compact form: it reads back exactly as decided; old runs keep their summary."""
import json
import math

from sqlalchemy import func, select

from bookkit import write_book
from engine.book.importer import import_book
from engine.core.policy import default_policy, policy_from_dict
from engine.core.policy_store import save_policy
from engine.decide.workflow import proposals_frame, run_workflow
from storage import compact_detail
from storage import models as m

DETAILS = [
    {"class_weights_pre": {"US Bonds": 0.3998056393875463, "CASH": 0.01640597796273841},
     "class_weights_post": {"US Bonds": 0.3910276573234726, "CASH": 0.015199186842074042},
     "class_targets": {"US Bonds": 0.37429999999999997, "CASH": 0.015},
     "class_bands": {"US Bonds": [0.3243, 0.42429999999999995]},
     "cash_post": 5011.4304399999955, "cash_required": 4945.75515, "cash_shortfall": 0.0, "cash_needed": 0.0,
     "must_sell": {}, "frozen": [], "no_buy": [], "harvest_value": 963.091522317375, "tax_saved": 2005.6076600000001,
     "trading_mode": "full"},
    # post weights in another order, a household, a budget, a model change: key order is kept
    {"class_weights_pre": {"A": 0.5, "CASH": 0.5}, "class_weights_post": {"CASH": 0.25, "A": 0.75},
     "household": {"id": "H1", "wash_blocks": [["X", "2026-11-01"]], "score_bps": 1.5},
     "cash_post": 1.0, "class_targets": {"A": 1.0}, "class_bands": {},
     "budget": {"limit": 1000, "used": 12.5}, "model_change": {"from": "M1", "to": "M2"}},
    # what a float column cannot give back bit for bit stays in the text: NaN, -0.0, an int, inf
    {"class_weights_pre": {"A": float("nan")}, "class_weights_post": {"A": -0.0},
     "cash_post": float("nan"), "cash_required": -0.0, "cash_shortfall": 3, "cash_needed": math.inf,
     "harvest_value": None, "tax_saved": 1e-300},
    # weights that are not all floats, no weights at all, an empty detail
    {"class_weights_pre": {"A": 1}, "class_weights_post": {"A": 1.0}, "tax_saved": 2.0},
    {"cash_post": 2.5, "frozen": ["OIL"]},
    {},
]


def test_every_detail_reads_back_as_the_same_text():
    enc = compact_detail.Encoder()
    rows = [enc.encode(d) for d in DETAILS]
    text = {i: t for t, i in enc.texts.items()}
    for d, (shape, extra, weights, *scalars) in zip(DETAILS, rows):
        back = compact_detail.decode(text[shape], text[extra], weights, scalars)
        assert list(back) == list(d)
        assert json.dumps(back) == json.dumps(d)
        # the reader's text, made without the dict, is the same text
        shape_, extra_ = compact_detail._Shape(text[shape]), compact_detail._extra(text[extra])
        assert compact_detail.text(shape_, extra_, weights, scalars) == json.dumps(d)
    # another account of the first one's model with other weights and figures shares its texts
    n = len(enc.texts)
    other = {**DETAILS[0], "class_weights_pre": {"US Bonds": 0.25, "CASH": 0.75}, "cash_post": 7.0}
    again = enc.encode(other)
    assert again[:2] == rows[0][:2] and again[2] != rows[0][2] and len(enc.texts) == n


def test_a_run_stores_detail_compactly_and_reads_it_back(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "book"), user="ops")
    run = run_workflow(engine, workers=1, user="ops")
    with engine.connect() as conn:
        props = proposals_frame(conn, run.run_id)
        raw = conn.execute(select(func.count()).select_from(m.Proposal).where(
            m.Proposal.run_id == run.run_id, m.Proposal.detail.is_not(None))).scalar()
        compact = conn.execute(select(func.count()).select_from(m.ProposalDetail).where(
            m.ProposalDetail.run_id == run.run_id)).scalar()
        one = texts = compact_detail.texts_of(conn, props["id"].tolist())
    assert raw == 0  # no JSON text per proposal
    has = props[props["detail"].notna()]
    assert len(has) == compact > 0
    for pid, text in zip(has["id"], has["detail"]):
        d = json.loads(text)
        assert abs(sum(d["class_weights_pre"].values()) - 1.0) < 1e-6 and "cash_needed" in d
        assert texts[int(pid)] == text
    assert one.keys() == set(has["id"].astype(int))


def first_trades(conn, run_id):
    return conn.execute(select(func.count()).select_from(m.Trade).join(m.Proposal).where(
        m.Proposal.run_id == run_id)).scalar()


def test_runs_beyond_the_retention_keep_their_summary_not_their_detail(engine, tmp_path):
    data = default_policy().model_dump()
    data["retention"]["keep_run_details"] = 1
    save_policy(engine, policy_from_dict(data), user="admin")
    import_book(engine, write_book(tmp_path / "book"), user="ops")
    first = run_workflow(engine, workers=1, user="ops")
    with engine.connect() as conn:
        before = proposals_frame(conn, first.run_id)
        trades = first_trades(conn, first.run_id)
    assert trades > 0
    second = run_workflow(engine, workers=1, user="ops")
    assert second.summary["details_pruned"]["proposal_details"] == before["detail"].notna().sum()
    with engine.connect() as conn:
        old = proposals_frame(conn, first.run_id)
        new = proposals_frame(conn, second.run_id)
        assert first_trades(conn, first.run_id) == trades
        assert conn.execute(select(func.count()).select_from(m.DetailText).where(
            m.DetailText.run_id == first.run_id)).scalar() == 0
    assert old["detail"].isna().all() and new["detail"].notna().sum() == before["detail"].notna().sum()
    summary = ["account_id", "category", "tier", "status", "score_bps", "threshold_bps", "flags", "reasons"]
    assert old[summary].equals(before[summary])
