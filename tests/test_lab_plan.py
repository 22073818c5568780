"""The Lab panel's engine calls (engine.lab.plan), without Qt: sweeps of one setting (also through
the CLI's --sweep), the "see in Lab" starting values, the seeded account sample, and a plan run
equal to the runner's own simulation."""
import pandas as pd
import pytest

from engine.lab import build_variants, simulate
from engine.lab.plan import LabPlan, plan_variants, run_plan, sample_accounts, setting_sweep, sweep
from engine.lab.runner import sweep_variants
from engine.core.policy import default_policy
from engine.core.tasks import RefusedError
from labkit import imported


def test_a_sweep_of_one_setting_sets_it_and_validates_like_the_policy():
    base = default_policy()
    v = sweep(base, "harvest.discount_rate=0.025, 0.1")
    assert [x.name for x in v] == ["harvest.discount_rate=0.025", "harvest.discount_rate=0.1"]
    assert [x.policy.harvest.discount_rate for x in v] == [0.025, 0.1]
    assert all(x.policy.trading == base.trading and x.kind == "engine" for x in v)
    assert sweep(base, "harvest.value=full")[0].policy.harvest.value == "full"
    assert sweep(base, "harvest.st_conversion=false")[0].policy.harvest.st_conversion is False
    assert sweep(base, "bands.trade_to=target,0.5")[1].policy.bands.trade_to == 0.5
    # the CLI's --sweep goes through the same function
    assert sweep_variants(base, "trading.wash_sale_days=60")[0].policy.trading.wash_sale_days == 60
    with pytest.raises(RefusedError, match="harvest.discount_rate: Input should be less than or equal to 1"):
        sweep(base, "harvest.discount_rate=2")
    with pytest.raises(RefusedError, match="'half' is not a value of harvest.value"):
        sweep(base, "harvest.value=half")
    with pytest.raises(RefusedError, match="no such policy setting"):
        sweep(base, "harvest.speed=1")
    with pytest.raises(RefusedError, match="no values"):
        sweep(base, "trading.cost_bps=")


def test_see_in_lab_starts_from_the_quick_sweep_or_around_the_setting():
    p = default_policy()
    assert setting_sweep(p, "threshold") == "threshold=0.5,2"
    assert setting_sweep(p, "trading.tradeoff_lambda") == "lambda=0.3,3"
    assert setting_sweep(p, "bands.relative") == "bands=0.5,2"
    d = p.harvest.horizon_years
    assert setting_sweep(p, "harvest.horizon_years") == f"harvest.horizon_years={d * 0.5:g},{d * 2:g}"
    assert setting_sweep(p, "harvest.value") == "harvest.value=" + ("full" if p.harvest.value == "deferral"
                                                                    else "deferral")
    assert setting_sweep(p, "harvest.st_conversion") == f"harvest.st_conversion={str(not p.harvest.st_conversion).lower()}"
    assert setting_sweep(p, "harvest.round_trip") == f"harvest.round_trip={str(not p.harvest.round_trip).lower()}"
    off = p.model_copy(update={"trading": p.trading.model_copy(update={"min_drift_trade_dollars": 0.0})})
    assert setting_sweep(off, "trading.min_drift_trade_dollars") == "trading.min_drift_trade_dollars=2500,10000"
    # the per-security terms (off by default): the vols of docs/decision-quality.md 11b, bps in tens
    off = off.model_copy(update={"trading": off.trading.model_copy(update={"security_vol_free": 0.0,
                                                                           "free_tax_bps": 0.0})})
    assert setting_sweep(off, "trading.security_vol_free") == "trading.security_vol_free=0.03,0.06,0.12"
    assert setting_sweep(off, "trading.free_tax_bps") == "trading.free_tax_bps=10,50"
    for key in ("harvest.discount_rate", "trading.harvest_min_loss_pct", "bands.trade_to", "trading.wash_sale_days",
                "harvest.round_trip", "trading.min_drift_trade_dollars", "trading.security_vol",
                "trading.security_vol_untaxed", "trading.security_vol_free", "trading.free_tax_bps"):
        assert len(sweep(p, setting_sweep(p, key))) >= 1  # every starting sweep is valid


def test_the_account_sample_is_seeded_and_filters_every_account_frame(tmp_path):
    _, book = imported(tmp_path)
    assert sample_accounts(book, None, 1) is book and sample_accounts(book, 3, 1) is book
    a = sample_accounts(book, 2, 5)
    ids = set(a.frames["accounts"]["account_id"])
    assert len(ids) == 2 and ids == set(sample_accounts(book, 2, 5).frames["accounts"]["account_id"])
    for name in ("lots", "custodian_positions", "transactions", "cash_requests"):
        f = a.frames[name]
        assert set(f["account_id"]) <= ids
        assert len(f) == int(book.frames[name]["account_id"].isin(ids).sum())
    assert a.frames["securities"] is book.frames["securities"]
    with pytest.raises(RefusedError, match="at least one account"):
        sample_accounts(book, 0, 1)


def test_a_plan_runs_what_the_runner_runs(tmp_path):
    from storage.db import make_engine

    db, book = imported(tmp_path)
    eng = make_engine(db, migrate=False)
    try:
        run = run_plan(eng, LabPlan(days=2, seed=3, sweeps=("harvest.value=full",), baselines=("band",)))
        with pytest.raises(RefusedError, match="no variant"):
            run_plan(eng, LabPlan(days=2, default=False))
    finally:
        eng.dispose()
    assert run.base_version == 0 and run.accounts == run.book_accounts == 3
    variants = build_variants(book.policy, baselines=["band"])
    variants.insert(1, sweep(book.policy, "harvest.value=full")[0])
    assert [v.name for v in plan_variants(book, run.plan, {})] == [v.name for v in variants]
    want = simulate(book, variants, 2, seed=3).summary
    pd.testing.assert_frame_equal(run.result.summary, want)


def test_the_simulate_command_takes_the_same_sample(tmp_path, capsys):
    import main

    db, book = imported(tmp_path)
    out = tmp_path / "lab"
    assert main.main(["simulate", "--db", db, "--days", "1", "--no-default", "--baseline", "band", "--sample", "2",
                      "--seed", "5", "--out", str(out)]) == 0, capsys.readouterr().err
    s = pd.read_csv(out / "summary.csv")
    assert list(s["variant"]) == ["band"] and int(s["accounts"].iat[0]) == 2
    want = simulate(sample_accounts(book, 2, 5), build_variants(book.policy, baselines=["band"], default=False), 1,
                    seed=5).summary
    assert s["value_start"].iat[0] == pytest.approx(want["value_start"].iat[0])
    assert main.main(["simulate", "--db", db, "--days", "1", "--sample", "0", "--out", str(out)]) == 2
    assert "at least one account" in capsys.readouterr().err
