"""engine.book.sample: the generated book folder is complete, consistent and deterministic, and
every planted data-quality problem is really in the files (found here independently)."""
from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.book.sample import COLUMNS, FILES, PROBLEM_KINDS, generate_sample  # noqa: E402

AS_OF = date(2026, 11, 20)
TIER_EDGES = (250_000.0, 5_000_000.0, 25_000_000.0)
TIER_NAMES = ("Small", "Core", "Premier", "UHNW")


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def _load(folder: Path) -> dict[str, pd.DataFrame]:
    return {n: _read(folder, n) for n in FILES if n.endswith(".csv")}


@pytest.fixture(scope="module")
def book300(tmp_path_factory):
    out = tmp_path_factory.mktemp("book300")
    summary = generate_sample(out, accounts=300, seed=7)
    return out, summary, _load(out)


@pytest.fixture(scope="module")
def book50(tmp_path_factory):
    out = tmp_path_factory.mktemp("book50")
    summary = generate_sample(out, accounts=50, seed=11)
    return out, summary, _load(out)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", np.nan))


def detect_problems(frames: dict[str, pd.DataFrame], as_of: date) -> dict[str, set[str]]:
    """Find every data-quality problem kind of CONTRACT.md §1 straight from the files."""
    sec, acc, lots = frames["securities.csv"], frames["accounts.csv"], frames["lots.csv"]
    pos, feeds, ca = (frames["custodian_positions.csv"], frames["feeds.csv"],
                      frames["corporate_actions.csv"])
    found: dict[str, set[str]] = {}
    known = set(sec["symbol"])
    found["UNKNOWN_SECURITY"] = set(lots.loc[~lots["symbol"].isin(known), "account_id"])
    no_price = set(sec.loc[sec["price"] == "", "symbol"])
    found["MISSING_PRICE"] = set(lots.loc[lots["symbol"].isin(no_price), "account_id"])
    stale = set(sec.loc[pd.to_datetime(sec["price_date"]).dt.date < as_of, "symbol"])
    found["STALE_PRICE"] = set(lots.loc[lots["symbol"].isin(stale), "account_id"])
    lot_sum = lots.assign(q=_num(lots["quantity"])).groupby(["account_id", "symbol"])["q"].sum()
    cust = pos.assign(q=_num(pos["quantity"])).set_index(["account_id", "symbol"])["q"]
    both = pd.concat([lot_sum.rename("lots"), cust.rename("cust")], axis=1).fillna(0)
    found["RECON_BREAK"] = set(both.index[both["lots"] != both["cust"]].get_level_values(0))
    pend = ca[(ca["processed"] == "false")
              & (pd.to_datetime(ca["effective_date"]).dt.date <= as_of)]["symbol"]
    found["CORP_ACTION_PENDING"] = set(lots.loc[lots["symbol"].isin(set(pend)), "account_id"])
    bad_feed = feeds[(feeds["status"] != "ok")
                     | (pd.to_datetime(feeds["file_date"]).dt.date < as_of)]["custodian"]
    found["FEED_MISSING"] = set(acc.loc[acc["custodian"].isin(set(bad_feed)), "account_id"])
    found["NEGATIVE_POSITION"] = (set(lots.loc[_num(lots["quantity"]) < 0, "account_id"])
                                  | set(pos.loc[_num(pos["quantity"]) < 0, "account_id"]))
    return found


def account_values(frames: dict[str, pd.DataFrame]) -> pd.Series:
    sec, acc, lots = frames["securities.csv"], frames["accounts.csv"], frames["lots.csv"]
    price = _num(sec.set_index("symbol")["price"])
    v = _num(lots["quantity"]) * lots["symbol"].map(price).fillna(0.0)
    held = v.groupby(lots["account_id"]).sum()
    cash = _num(acc.set_index("account_id")["cash"])
    return cash + held.reindex(acc["account_id"]).fillna(0)


# ------------------------------------------------------------------------------ files


def test_all_files_and_exact_columns(book300):
    out, summary, frames = book300
    for name in FILES:
        assert (out / name).is_file(), name
    for name, cols in COLUMNS.items():
        header = (out / name).read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(",") == cols, name
    assert json.loads((out / "manifest.json").read_text()) == {"as_of": "2026-11-20"}
    assert summary["accounts"] == 300 == len(frames["accounts.csv"])
    assert summary["lots"] == len(frames["lots.csv"])
    assert summary["securities"] == len(frames["securities.csv"])
    assert summary["cash_requests"] == len(frames["cash_requests.csv"])
    # plain LF line ends and no trailing blank line
    raw = (out / "lots.csv").read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n") and not raw.endswith(b"\n\n")


def test_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sa = generate_sample(a, accounts=120, seed=5)
    sb = generate_sample(b, accounts=120, seed=5)
    generate_sample(c, accounts=120, seed=6)
    assert sa == {**sb, "out_dir": sa["out_dir"]}
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "lots.csv").read_bytes() != (c / "lots.csv").read_bytes()
    assert (a / "accounts.csv").read_bytes() != (c / "accounts.csv").read_bytes()


def test_unique_keys(book300):
    _, _, f = book300
    assert not f["securities.csv"]["symbol"].duplicated().any()
    assert not f["models.csv"].duplicated(["model_id", "symbol"]).any()
    assert not f["accounts.csv"]["account_id"].duplicated().any()
    assert not f["lots.csv"].duplicated(["account_id", "lot_id"]).any()
    assert not f["custodian_positions.csv"].duplicated(["account_id", "symbol"]).any()
    assert not f["cash_requests.csv"]["request_id"].duplicated().any()
    assert not f["feeds.csv"]["custodian"].duplicated().any()


# ------------------------------------------------------------------------------ master


def test_securities_look_real(book300):
    _, _, f = book300
    sec = f["securities.csv"]
    assert 60 <= len(sec) <= 150
    assert 6 <= sec["asset_class"].nunique() <= 10
    assert sec["symbol"].str.fullmatch(r"[A-Z]{2,5}").all()
    assert "CASH" not in set(sec["symbol"])
    priced = _num(sec["price"]).dropna()
    assert len(priced) == len(sec) - 1  # exactly the one MISSING_PRICE security is blank
    assert priced.between(10, 500).all()
    assert _num(sec["rating"]).between(1, 10).all()
    tags = sec["tags"][sec["tags"] != ""]
    assert tags.str.fullmatch(r"[a-z]+(;[a-z]+)*").all()
    all_tags = set(";".join(tags).split(";"))
    assert {"tobacco", "energy", "firearms", "gambling"} <= all_tags
    grouped = sec[sec["substitute_group"] != ""]
    assert 0 < len(grouped) < len(sec)
    sizes = grouped.groupby("substitute_group").size()
    assert sizes.between(2, 3).all()
    assert (grouped.groupby("substitute_group")["asset_class"].nunique() == 1).all()


def test_models(book300):
    _, _, f = book300
    m = f["models.csv"].assign(w=lambda d: _num(d["weight"]))
    assert 5 <= m["model_id"].nunique() <= 8
    sums = m.groupby("model_id")["w"].sum()
    assert (np.abs(sums - 1.0) < 1e-9).all(), sums
    cash = m[m["symbol"] == "CASH"].set_index("model_id")["w"]
    assert len(cash) == m["model_id"].nunique()
    assert cash.between(0.01, 0.03).all()
    n = m[m["symbol"] != "CASH"].groupby("model_id").size()
    assert n.between(10, 30).all(), n
    assert set(m["symbol"]) - {"CASH"} <= set(f["securities.csv"]["symbol"])
    assert set(f["accounts.csv"]["model_id"]) <= set(m["model_id"])


# ------------------------------------------------------------------------------ accounts


def test_accounts(book300):
    _, summary, f = book300
    acc = f["accounts.csv"]
    assert acc["account_id"].str.fullmatch(r"A\d{6}").all()
    assert acc["taxable"].isin(["true", "false"]).all()
    share = (acc["taxable"] == "true").mean()
    assert 0.55 < share < 0.85
    tax = acc[acc["taxable"] == "true"]
    exempt = acc[acc["taxable"] == "false"]
    assert (tax["st_rate"] != "").all() and (tax["lt_rate"] != "").all()
    assert (exempt["st_rate"] == "").all() and (exempt["lt_rate"] == "").all()
    assert (_num(tax["st_rate"]) >= _num(tax["lt_rate"])).all()
    assert 3 <= acc["custodian"].nunique() <= 6
    assert (_num(acc["cash"]) >= 0).all()
    ltd = pd.to_datetime(acc["last_trade_date"].replace("", None)).dt.date.dropna()
    assert len(ltd) < len(acc)  # some never traded
    assert all(AS_OF - timedelta(days=400) <= d <= AS_OF for d in ltd)
    r = acc["restrictions"][acc["restrictions"] != ""]
    assert 0.05 < len(r) / len(acc) < 0.15
    assert r.str.fullmatch(r"(tag:[a-z]+|sym:[A-Z]{2,5})(;(tag:[a-z]+|sym:[A-Z]{2,5}))*").all()
    groups = acc["group"][acc["group"] != ""]
    assert 0 < len(groups) < 0.05 * len(acc)
    assert set(groups) <= set(TIER_NAMES)
    assert (acc["name"].str.len() > 3).all()
    assert summary["restricted_holding_accounts"]


def test_some_restricted_securities_are_held(book300):
    _, summary, f = book300
    sec, acc, lots = f["securities.csv"], f["accounts.csv"], f["lots.csv"]
    tags = sec.set_index("symbol")["tags"].str.split(";")
    held = lots.merge(acc[["account_id", "restrictions"]], on="account_id")
    held = held[held["restrictions"] != ""]

    def forbidden(row) -> bool:
        rules = row["restrictions"].split(";")
        t = set(tags.get(row["symbol"], []) or [])
        return f"sym:{row['symbol']}" in rules or any(r[4:] in t for r in rules
                                                      if r.startswith("tag:"))

    hits = set(held[held.apply(forbidden, axis=1)]["account_id"])
    assert hits and hits == set(summary["restricted_holding_accounts"])


@pytest.mark.parametrize("n", [200, 300])
def test_every_tier_populated(tmp_path, n):
    generate_sample(tmp_path, accounts=n, seed=n)
    f = _load(tmp_path)
    v = account_values(f)
    tiers = np.searchsorted(TIER_EDGES, v.to_numpy(), side="right")
    counts = np.bincount(tiers, minlength=4)
    assert (counts > 0).all(), dict(zip(TIER_NAMES, counts))
    assert v.min() > 40_000 and v.max() < 70_000_000


def test_summary_tiers_match_files(book300):
    _, summary, f = book300
    v = account_values(f)
    tiers = np.searchsorted(TIER_EDGES, v.to_numpy(), side="right")
    # the summary values the missing-price holding too, so allow those few accounts to differ
    counts = dict(zip(TIER_NAMES, np.bincount(tiers, minlength=4).tolist()))
    assert sum(abs(counts[t] - summary["tiers"][t]) for t in TIER_NAMES) <= 2


# ------------------------------------------------------------------------------ lots


def test_lots_and_custodian_positions(book300):
    _, summary, f = book300
    lots, pos = f["lots.csv"], f["custodian_positions.csv"]
    assert lots["quantity"].str.fullmatch(r"-?\d+").all()
    q = _num(lots["quantity"])
    neg_accounts = set(summary["planted"]["NEGATIVE_POSITION"])
    assert (q[~lots["account_id"].isin(neg_accounts)] > 0).all()
    # exactly one negative lot in each NEGATIVE_POSITION account
    assert lots[q < 0].groupby("account_id").size().to_dict() == {a: 1 for a in neg_accounts}
    assert lots["lot_id"].str.fullmatch(r"L\d{4,}").all()
    per_holding = lots.groupby(["account_id", "symbol"]).size()
    assert per_holding.between(1, 8).all() and per_holding.max() >= 5
    assert (_num(lots["unit_cost"]) > 0).all()
    acq = pd.to_datetime(lots["acquired_date"]).dt.date
    assert acq.max() < AS_OF and acq.min() >= AS_OF - timedelta(days=6 * 366)
    short = (acq > AS_OF - timedelta(days=365)).mean()
    assert 0.1 < short < 0.6  # both short- and long-term lots
    # gains and losses, including deep short-term losses to harvest
    price = _num(f["securities.csv"].set_index("symbol")["price"])
    ratio = lots["symbol"].map(price) / _num(lots["unit_cost"])
    assert (ratio > 1).mean() > 0.4 and (ratio < 1).mean() > 0.1
    assert ((ratio < 0.85) & (acq > AS_OF - timedelta(days=365))).sum() > 0
    # custodian == lot sum, except the planted recon breaks
    lot_sum = lots.assign(q=q).groupby(["account_id", "symbol"])["q"].sum()
    cust = pos.assign(q=_num(pos["quantity"])).set_index(["account_id", "symbol"])["q"]
    assert set(cust.index) == set(lot_sum.index)
    diff = cust.index[cust != lot_sum.reindex(cust.index)]
    assert set(diff.get_level_values(0)) == set(summary["planted"]["RECON_BREAK"])
    assert summary["holdings"] == len(pos)


def test_holdings_follow_models_with_drift(book300):
    _, _, f = book300
    acc, lots, m = f["accounts.csv"], f["lots.csv"], f["models.csv"]
    sec = f["securities.csv"].set_index("symbol")
    held = lots.merge(acc[["account_id", "model_id"]], on="account_id")
    in_model = held.merge(m[["model_id", "symbol"]], on=["model_id", "symbol"], how="left",
                          indicator=True)["_merge"] == "both"
    assert in_model.mean() > 0.8
    # substitutes held instead of model securities (same substitute group)
    groups = sec["substitute_group"]
    out = held[~in_model.to_numpy()]
    assert (out["symbol"].map(groups).fillna("") != "").any()


# ------------------------------------------------------------------------------ others


def test_feeds_transactions_cash_requests_corporate_actions(book300):
    _, summary, f = book300
    feeds = f["feeds.csv"]
    assert set(feeds["status"]) == {"ok", "failed"}
    assert (feeds["status"] == "failed").sum() == 1
    failed = feeds.loc[feeds["status"] == "failed", "custodian"].iloc[0]
    share = (f["accounts.csv"]["custodian"] == failed).mean()
    assert 0 < share <= 0.02
    assert (feeds.loc[feeds["status"] == "ok", "file_date"] == "2026-11-20").all()

    tx = f["transactions.csv"]
    assert len(tx) > 0 and set(tx["side"]) == {"BUY", "SELL"}
    td = pd.to_datetime(tx["trade_date"]).dt.date
    assert td.min() >= AS_OF - timedelta(days=60) and td.max() <= AS_OF
    sells = tx[tx["side"] == "SELL"]
    assert (sells["realized_gain"] != "").all()
    assert (tx.loc[tx["side"] == "BUY", "realized_gain"] == "").all()
    assert (_num(sells["realized_gain"]) < 0).any()
    assert (_num(tx["quantity"]) > 0).all() and (_num(tx["price"]) > 0).all()

    cr = f["cash_requests.csv"]
    assert cr["request_id"].str.fullmatch(r"CR\d{5,}").all()
    assert set(cr["priority"]) <= {"high", "normal"} and "high" in set(cr["priority"])
    due = pd.to_datetime(cr["due_date"]).dt.date
    assert due.min() >= AS_OF and due.max() <= AS_OF + timedelta(days=20)
    v = account_values(f)
    frac = _num(cr["amount"]).to_numpy() / v.reindex(cr["account_id"]).to_numpy()
    assert (frac > 0.005).all() and (frac < 0.5).all()
    # URGENT: some suspended (planted) accounts wait on a high-priority cash request
    planted = set().union(*map(set, summary["planted"].values()))
    high = set(cr.loc[cr["priority"] == "high", "account_id"])
    assert high & planted
    assert set(summary["urgent"]) <= high & planted

    ca = f["corporate_actions.csv"]
    assert set(ca["kind"]) == {"split", "merger", "spinoff"}
    assert set(ca["processed"]) == {"true", "false"}
    eff = pd.to_datetime(ca["effective_date"]).dt.date
    assert ((ca["processed"] == "false") & (eff > AS_OF)).any()  # a future one, no problem
    assert (ca.loc[ca["kind"] == "merger", "new_symbol"] != "").all()


# ------------------------------------------------------------------------------ planted


@pytest.mark.parametrize("fixture", ["book50", "book300"])
def test_every_planted_problem_is_in_the_files(fixture, request):
    _, summary, f = request.getfixturevalue(fixture)
    n = summary["accounts"]
    found = detect_problems(f, AS_OF)
    assert set(summary["planted"]) == set(PROBLEM_KINDS)
    for kind in PROBLEM_KINDS:
        planted = set(summary["planted"][kind])
        assert planted, kind
        assert len(planted) <= max(1, 0.02 * n), kind
        assert found[kind] == planted, kind
    # most of the book is clean
    bad = set().union(*found.values())
    assert len(bad) <= max(len(PROBLEM_KINDS), 0.06 * n)


def test_planted_securities_are_rare(book300):
    _, summary, f = book300
    lots = f["lots.csv"]
    for kind, sym in summary["planted_symbols"].items():
        holders = set(lots.loc[lots["symbol"] == sym, "account_id"])
        assert holders == set(summary["planted"][kind]), kind
    assert summary["planted_symbols"]["UNKNOWN_SECURITY"] not in set(
        f["securities.csv"]["symbol"])


@pytest.mark.parametrize("n", [1, 3, 8])
def test_tiny_books_still_work(tmp_path, n):
    summary = generate_sample(tmp_path, accounts=n, seed=2)
    f = _load(tmp_path)
    assert len(f["accounts.csv"]) == n
    found = detect_problems(f, AS_OF)
    for kind in PROBLEM_KINDS:
        assert found[kind] == set(summary["planted"][kind]), kind


def test_progress_and_as_of(tmp_path):
    calls = []
    as_of = date(2025, 3, 14)
    summary = generate_sample(tmp_path, accounts=30, seed=1, as_of=as_of,
                              progress=lambda frac, msg: calls.append((frac, msg)))
    fracs = [c[0] for c in calls]
    assert fracs == sorted(fracs) and fracs[0] == 0.0 and fracs[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)
    assert summary["as_of"] == "2025-03-14"
    assert json.loads((tmp_path / "manifest.json").read_text())["as_of"] == "2025-03-14"
    f = _load(tmp_path)
    found = detect_problems(f, as_of)
    for kind in PROBLEM_KINDS:
        assert found[kind] == set(summary["planted"][kind]), kind


def test_rejects_bad_account_count(tmp_path):
    with pytest.raises(ValueError):
        generate_sample(tmp_path, accounts=0)
