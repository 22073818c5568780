"""Data-quality codes of issue 22: BAD_PRICE (each rule, against the last known price of an
earlier book) and UNKNOWN_TIER (a group naming no tier of the run's policy), in the checks,
in a run on both databases, and in the Suspended panel's words."""
from datetime import date

import pandas as pd
import pytest

from bookkit import BASE, write_book
from engine.book.book import read_book
from engine.book.checks import run_checks
from engine.book.importer import import_book
from engine.core.policy import default_policy, policy_from_dict
from engine.book.price_checks import bad_prices, last_known_prices
from engine.core.tasks import RefusedError
from engine.decide.workflow import run_workflow
from qt_fixtures import boxes, settings, shown, wait_loaded  # noqa: F401

AS_OF = date(2026, 11, 20)


def priced(aaa: str, as_of: str = "2026-11-20") -> list[str]:
    """securities.csv with AAA at ``aaa`` and every price dated ``as_of``."""
    return [(line.replace("100.00", aaa, 1) if line.startswith("AAA,") else line).replace("2026-11-20", as_of)
            for line in BASE["securities.csv"]]


def history(*days: tuple[int, str, float]) -> pd.DataFrame:
    """A price history of AAA: (snapshot id, price date, price) per earlier book."""
    return pd.DataFrame({"snapshot_id": [d[0] for d in days], "symbol": "AAA",
                         "price": [d[2] for d in days], "price_date": [date.fromisoformat(d[1]) for d in days]})


def checks_of(tmp_path, aaa: str, hist=None, policy=None, accounts=None) -> dict:
    changes = {"securities.csv": priced(aaa)}
    if accounts:
        changes["accounts.csv"] = accounts
    book = read_book(write_book(tmp_path / f"b{len(list(tmp_path.iterdir()))}", changes=changes))
    s = run_checks(book.frames, AS_OF, policy or default_policy(), price_history=hist)
    return {(a, c): d for a, c, d in s.itertuples(index=False)}


LAST = history((1, "2026-11-19", 100.0))


@pytest.mark.parametrize("aaa, words", [
    ("0", "AAA priced $0.00 (last known price $100.00 on 2026-11-19): a price must be above zero"),
    ("-5.00", "AAA priced $-5.00 (last known price $100.00 on 2026-11-19): a price must be above zero"),
    ("2000000", "AAA priced $2,000,000.00 (last known price $100.00 on 2026-11-19): above the policy's "
                "ceiling of $1,000,000.00 (checks.max_price)"),
    ("600.00", "AAA priced $600.00 (last known price $100.00 on 2026-11-19): 6.0 times above it, beyond "
               "the policy's limit of 5 times (checks.max_price_move)"),
    ("12.50", "AAA priced $12.50 (last known price $100.00 on 2026-11-19): 8.0 times below it, beyond "
              "the policy's limit of 5 times (checks.max_price_move)"),
])
def test_each_bad_price_rule_suspends_the_holders_with_the_detail(tmp_path, aaa, words):
    got = checks_of(tmp_path, aaa, LAST)
    # A1 and A3 hold AAA; A2 (whose model buys AAA) holds none and is not suspended
    assert got[("A1", "BAD_PRICE")] == words and got[("A3", "BAD_PRICE")] == words
    assert not any(a == "A2" for a, _ in got)


def test_a_price_within_the_limits_is_not_bad(tmp_path):
    assert not any(c == "BAD_PRICE" for _, c in checks_of(tmp_path, "450.00", LAST))
    assert not any(c == "BAD_PRICE" for _, c in checks_of(tmp_path, "25.00", LAST))
    # no earlier book: only the price's own limits apply
    assert not any(c == "BAD_PRICE" for _, c in checks_of(tmp_path, "600.00", None))
    got = checks_of(tmp_path, "0", None)
    assert got[("A1", "BAD_PRICE")] == "AAA priced $0.00 (last known price none): a price must be above zero"


def test_the_policy_limits_are_the_policy_keys(tmp_path):
    data = default_policy().model_dump()
    data["checks"] |= {"max_price_move": 10.0, "max_price": 500.0}
    pol = policy_from_dict(data)
    wide = policy_from_dict(default_policy().model_dump() | {"checks": {"max_price_move": 10.0}})
    assert not any(c == "BAD_PRICE" for _, c in checks_of(tmp_path, "600.00", LAST, policy=wide))
    got = checks_of(tmp_path, "600.00", LAST, policy=pol)
    assert "above the policy's ceiling of $500.00" in got[("A1", "BAD_PRICE")]
    # the shipped policy says them; a policy saved before they existed keeps its text and checksum
    assert default_policy().checks.max_price_move == 5.0 and default_policy().checks.max_price == 1e6
    assert "max_price" not in default_policy().to_toml() and "max_price = 500.0" in pol.to_toml()
    for key, bad in (("max_price_move", 1.0), ("max_price", 0)):
        with pytest.raises(RefusedError, match=f"checks.{key}: Input should be greater than"):
            policy_from_dict(default_policy().model_dump() | {"checks": {key: bad}})


def test_last_known_price_skips_an_earlier_bad_day():
    pol = default_policy()
    # 100, then a bad 0.10 (refused that day): the last known price stays 100 of the first day
    last = last_known_prices(history((1, "2026-11-18", 100.0), (2, "2026-11-19", 0.10)), pol)
    assert last.set_index("symbol").loc["AAA"].tolist() == [100.0, "2026-11-18"]
    sec = pd.DataFrame({"symbol": ["AAA"], "price": [100.0]})
    assert not len(bad_prices(sec, pol, history((1, "2026-11-18", 100.0), (2, "2026-11-19", 0.10))))
    # a move within the limit becomes the new yardstick
    last = last_known_prices(history((1, "2026-11-18", 100.0), (2, "2026-11-19", 300.0)), pol)
    assert last.set_index("symbol").loc["AAA"].tolist() == [300.0, "2026-11-19"]
    assert bad_prices(pd.DataFrame({"symbol": ["AAA"], "price": [1600.0]}), pol,
                      history((1, "2026-11-18", 100.0), (2, "2026-11-19", 300.0)))["rule"].tolist() == ["moved too far"]


def test_run_suspends_bad_prices_before_the_optimizer(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "d1", as_of="2026-11-19", changes={
        "securities.csv": priced("100.00", "2026-11-19"),
        "feeds.csv": ["custodian,file_date,status", "SCHWAB,2026-11-19,ok", "FIDELITY,2026-11-19,ok"]}))
    import_book(engine, write_book(tmp_path / "d2", changes={"securities.csv": priced("0.01")}))
    res = run_workflow(engine, workers=1)
    out = res.proposals.set_index("account_id")
    for a in ("A1", "A3"):
        assert out.at[a, "category"] == "SUSPENDED" and "BAD_PRICE" in out.at[a, "reasons"]
        assert "OPTIMIZER_FAILED" not in out.at[a, "reasons"]
    # A2's model holds 20% AAA: it is not suspended, and does not buy AAA at the bad price
    assert out.at["A2", "category"] != "SUSPENDED"
    from engine.desk import views

    why = views.account_reasons(engine, "A1")["reasons"]
    assert [r["code"] for r in why] == ["BAD_PRICE"]
    assert why[0]["details"] == ["AAA priced $0.01 (last known price $100.00 on 2026-11-19): 10,000.0 times "
                                 "below it, beyond the policy's limit of 5 times (checks.max_price_move)"]
    assert why[0]["title"] == "Bad price" and "pricing source" in why[0]["action"]
    from sqlalchemy import select

    from storage import models as m
    with engine.connect() as conn:
        bought = conn.execute(select(m.Trade.account_id).where(m.Trade.symbol == "AAA",
                                                                m.Trade.side == "BUY")).all()
    assert bought == []


TIERED = [BASE["accounts.csv"][0],
          "A1,Smith Trust,GROWTH,SCHWAB,2000,true,0.37,0.20,2026-06-01,,Platinum",
          "A2,Jones IRA,INCOME,FIDELITY,1000,false,,,,,premier",
          BASE["accounts.csv"][3]]


def test_unknown_tier_suspends_with_value_group_and_tiers(tmp_path):
    got = checks_of(tmp_path, "100.00", accounts=TIERED)
    assert got[("A1", "UNKNOWN_TIER")] == ("account value $92,000: group 'Platinum' names no tier of the "
                                           "policy (tiers: Small, Core, Premier, UHNW)")
    assert ("A2", "UNKNOWN_TIER") not in got  # a tier name in any case is known


def test_unknown_tier_follows_the_runs_policy(engine, tmp_path):
    import_book(engine, write_book(tmp_path / "d1", changes={"accounts.csv": TIERED}))
    out = run_workflow(engine, workers=1).proposals.set_index("account_id")
    assert out.at["A1", "category"] == "SUSPENDED" and out.at["A1", "reasons"] == "UNKNOWN_TIER"
    assert out.at["A2", "tier"] == "Premier" and out.at["A2", "category"] != "SUSPENDED"
    # the same book under a policy that has a Platinum tier: known, and the account runs in it
    data = default_policy().model_dump()
    data["tiers"] = [t | ({"name": "Platinum"} if t["name"] == "UHNW" else {}) for t in data["tiers"]]
    out = run_workflow(engine, policy=policy_from_dict(data), workers=1).proposals.set_index("account_id")
    assert out.at["A1", "category"] != "SUSPENDED" and out.at["A1", "tier"] == "Platinum"


def test_suspended_panel_says_what_to_do_about_the_new_codes(qtbot, engine, db_path, settings, boxes, tmp_path):
    import html
    import re

    from qt_fixtures import close_window, make_window, wait_idle

    import_book(engine, write_book(tmp_path / "d1", as_of="2026-11-19", changes={
        "securities.csv": priced("100.00", "2026-11-19"), "accounts.csv": TIERED,
        "feeds.csv": ["custodian,file_date,status", "SCHWAB,2026-11-19,ok", "FIDELITY,2026-11-19,ok"]}))
    import_book(engine, write_book(tmp_path / "d2", changes={"securities.csv": priced("0"),
                                                             "accounts.csv": TIERED}))
    run_workflow(engine, workers=1)
    w = make_window(qtbot, engine, db_path, settings)
    try:
        wait_idle(qtbot, w)
        shown(qtbot, w, "Suspended", "A1")
        p = w.panel("Suspended")
        qtbot.waitUntil(lambda: "Bad price" in p.detail.text())
        text = html.unescape(re.sub(r"<[^>]+>", " ", p.detail.text()))
        text = re.sub(r"\s+", " ", text)
        assert "Bad price (BAD_PRICE" in text and "Unknown tier (UNKNOWN_TIER" in text
        assert "AAA priced $0.00 (last known price $100.00 on 2026-11-19): a price must be above zero" in text
        assert "group 'Platinum' names no tier of the policy (tiers: Small, Core, Premier, UHNW)" in text
        from engine.desk.views import REASONS
        for code in ("BAD_PRICE", "UNKNOWN_TIER"):
            assert f"What to do: {REASONS[code][1]}" in text
        p.reason.setCurrentText("BAD_PRICE")
        qtbot.waitUntil(lambda: sorted(p.model.value(r, "account_id") for r in range(p.model.rowCount()))
                        == ["A1", "A3"])
    finally:
        close_window(w, boxes)


def test_manual_trade_of_a_zero_priced_holding_warns_and_counts_no_cash(engine, tmp_path):
    from engine.desk.manual import ManualTrade, check_manual_trades

    import_book(engine, write_book(tmp_path / "d1", changes={"securities.csv": priced("0")}))
    chk = check_manual_trades(engine, "A1", [ManualTrade("AAA", "SELL", 100), ManualTrade("BBB", "SELL", 100)])
    assert chk.errors == []
    assert chk.warnings == ["line 1 (SELL 100 AAA): AAA is priced 0.00, a bad price (BAD_PRICE); cash estimate "
                            "leaves it out"]
    assert chk.cash_raised == pytest.approx(100 * 20.0)  # BBB only
