"""Issue 23: model changes detected across two imports, listed for Today, traded under the
``model_change`` mandate kind and phased under a gains budget over several days (both
databases); the report says where each account stands."""
from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

import main
from bookkit import BASE, write_book
from engine.book import model_changes
from engine.book.importer import import_book
from engine.core.policy import default_policy
from engine.decide.workflow import proposals_frame, run_workflow
from storage import models as m

NEW_GROWTH = ["model_id,symbol,weight", "GROWTH,AAA,0.28", "GROWTH,OIL,0.10", "GROWTH,BBB,0.60",
              "GROWTH,CASH,0.02", "INCOME,BBB,0.78", "INCOME,AAA,0.20", "INCOME,CASH,0.02"]
ACC_HEAD = BASE["accounts.csv"][0] + ",gains_budget,ytd_realized_st,ytd_realized_lt,trading_mode"


def policy(daily=1000.0):
    pol = default_policy()
    return pol.model_copy(update={
        "mandates": pol.mandates.model_copy(update={"trade_now": pol.mandates.trade_now + ("model_change",)}),
        "budgets": pol.budget_settings().model_copy(update={"phase_daily_gains": daily})})


class Book:
    """The base book carried forward day by day: lots and cash change as the proposals trade."""

    def __init__(self):
        self.lots = [r.split(",") for r in BASE["lots.csv"][1:]]
        self.cash = {"A1": 2000.0, "A2": 1000.0, "A3": 5000.0}
        self.models = BASE["models.csv"]
        self.a2_model = "INCOME"
        self.ytd = {"ST": 0.0, "LT": 0.0}
        self.day_gain = 0.0

    def write(self, folder, day: date):
        d = day.isoformat()
        acc = [ACC_HEAD,
               f"A1,Smith Trust,GROWTH,SCHWAB,{self.cash['A1']:.2f},true,0.37,0.20,2026-06-01,,,5000,"
               f"{self.ytd['ST']:.2f},{self.ytd['LT']:.2f},",
               f"A2,Jones IRA,{self.a2_model},FIDELITY,{self.cash['A2']:.2f},false,,,,,,,,,",
               f"A3,Lee Family,GROWTH,SCHWAB,{self.cash['A3']:.2f},true,0.37,0.20,,tag:tobacco,,,,,"]
        lots = [BASE["lots.csv"][0]] + [",".join(r) for r in self.lots if float(r[3]) > 0]
        pos = pd.DataFrame([r[:4] for r in self.lots], columns=["a", "l", "s", "q"]).astype({"q": float})
        pos = pos.groupby(["a", "s"])["q"].sum()
        custodian = ["account_id,symbol,quantity"] + [f"{a},{s},{q:g}" for (a, s), q in pos.items() if q > 0]
        return write_book(folder, as_of=d, changes={
            "securities.csv": [x.replace("2026-11-20", d) for x in BASE["securities.csv"]],
            "feeds.csv": [x.replace("2026-11-20", d) for x in BASE["feeds.csv"]],
            "models.csv": self.models, "accounts.csv": acc, "lots.csv": lots, "custodian_positions.csv": custodian,
            "cash_requests.csv": [BASE["cash_requests.csv"][0]]})

    def execute(self, engine, account, day: date):
        """The account's proposed trades as the custodian would fill them at the book's prices."""
        with engine.connect() as conn:
            run = proposals_frame(conn).set_index("account_id").loc[account]
            t = m.Trade.__table__
            rows = conn.execute(select(t.c.symbol, t.c.side, t.c.quantity, t.c.est_price, t.c.lots)
                                .where(t.c.proposal_id == int(run["id"]))).all()
        self.day_gain = 0.0
        for sym, side, qty, px, lots in rows:
            if side == "SELL":
                for part in lots.split(";"):
                    lid, sh = part.split(":")
                    for r in self.lots:
                        if r[0] == account and r[1] == lid:
                            r[3] = f"{float(r[3]) - int(sh):g}"
                            g = int(sh) * (px - float(r[4]))
                            term = "ST" if date.fromisoformat(r[5]) > day - timedelta(days=365) else "LT"
                            self.ytd[term] += g
                            self.day_gain += g
                self.cash[account] += qty * px
            else:
                self.lots.append([account, f"N{day:%m%d}{sym}", sym, str(qty), f"{px:.2f}", day.isoformat()])
                self.cash[account] -= qty * px
        return run, rows


def test_model_change_detected_listed_and_phased_under_a_budget(engine, db_path, tmp_path):
    bk = Book()
    day = date(2026, 11, 20)
    import_book(engine, bk.write(tmp_path / "d0", day), user="ops")
    run_workflow(engine, policy=policy(), workers=1, user="sched")
    with engine.connect() as conn:
        assert len(model_changes.open_changes(conn, day)) == 0  # the first book changes nothing
    # the firm reweights GROWTH (58/30 -> 28/60) and moves A2 from INCOME to GROWTH
    bk.models, bk.a2_model = NEW_GROWTH, "GROWTH"
    day = date(2026, 11, 23)
    import_book(engine, bk.write(tmp_path / "d1", day), user="ops")
    with engine.connect() as conn:
        rows = {r.account_id: r for r in conn.execute(select(m.ModelChange.__table__)).all()}
        assert set(rows) == {"A1", "A2", "A3"}
        assert rows["A1"].kind == "weights" and rows["A2"].kind == "moved" and rows["A2"].old_model_id == "INCOME"
        # A1: $92,000; AAA $60,000 against a $25,760 target: 342.4 shares sold, 100 at a $20 loss
        # (highest cost first), then 242.4 at a $20 gain; BBB bought up to 60 %
        assert rows["A1"].est_gain == pytest.approx(-2000 + 242.4 * 20, abs=1)
        assert rows["A1"].est_tax == pytest.approx((242.4 * 20 - 2000) * 0.20, abs=1)
        assert rows["A1"].trade_dollars == pytest.approx(2 * (60000 - 25760), rel=0.1)
    gains, days = [], 0
    while True:
        run_workflow(engine, policy=policy(), workers=1, user="sched")
        with engine.connect() as conn:
            today = model_changes.summary(conn)
        if days == 0:
            growth = today.set_index("kind").loc["weights changed"]
            assert growth["model_id"] == "GROWTH" and growth["accounts"] == 2 and growth["in_transition"] == 2
            assert growth["est_tax"] > 0 and growth["within_budget_gain"] <= growth["est_gain"] + 1e-6
            assert today.set_index("kind").loc["moved from INCOME", "accounts"] == 1
        run, rows = bk.execute(engine, "A1", day)
        if "model_change" not in str(run["mandates"]):
            break
        assert run["category"] == "MANDATE" and "MANDATE:model_change" in run["reasons"]
        detail = json.loads(run["detail"])
        g = detail["budget"]["budget_used"] - sum(gains)  # this year's gains so far, plus the day's
        assert g == pytest.approx(bk.day_gain, abs=0.01)
        gains.append(g)
        assert g <= 1000 + 20 + 1e-6  # the day's phase cap, within one share's gain
        assert "left to trade" in detail["model_change"]
        days += 1
        assert days < 8, "the transition never ends"
        day += timedelta(days=1)
        import_book(engine, bk.write(tmp_path / f"d{days + 1}", day), user="ops")
    assert days >= 3  # phased over several days
    assert sum(gains) <= 5000 + 20  # within A1's budget
    aaa = sum(float(r[3]) for r in bk.lots if r[0] == "A1" and r[2] == "AAA") * 100
    value = aaa + sum(float(r[3]) * 20 for r in bk.lots if r[0] == "A1" and r[2] == "BBB") + bk.cash["A1"] \
        + sum(float(r[3]) * 80 for r in bk.lots if r[0] == "A1" and r[2] == "OIL")
    assert aaa / value == pytest.approx(0.28, abs=0.02)
    out = tmp_path / "report.csv"
    assert main.main(["report", "--db", db_path, "--out", str(out)]) == 0
    rep = {r["account_id"]: r for r in csv.DictReader(out.open())}
    assert "transition done" in rep["A1"]["model_change"]
    assert float(rep["A1"]["gains_budget"]) == 5000 and float(rep["A1"]["budget_used"]) == pytest.approx(sum(gains), abs=1)
    assert float(rep["A1"]["budget_left"]) == pytest.approx(5000 - sum(gains), abs=1)
