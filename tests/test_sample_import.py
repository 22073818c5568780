"""The sample book imports whole (counts and sums equal to the files) and its planted
problems are exactly what the integrity checks find."""
import pandas as pd
import pytest

from engine.book.book import SPECS
from engine.book.checks import run_checks
from engine.book.importer import import_book
from engine.core.policy import default_policy
from engine.book.sample import generate_sample
from storage import repo


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample") / "book"
    summary = generate_sample(folder, accounts=300, seed=11)
    return folder, summary


def test_sample_round_trips(sample, engine):
    folder, _ = sample
    snap = import_book(engine, folder)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, snap)
    for spec in SPECS:
        raw = pd.read_csv(folder / spec.name, keep_default_na=False, dtype=str)
        got = frames[spec.table]
        assert len(got) == len(raw), spec.name
        for col in spec.columns:
            if col.name not in raw.columns:  # an optional column the sample leaves out: blank
                assert got[col.name].isna().all(), (spec.name, col.name)
                continue
            if col.kind == "float":
                want = pd.to_numeric(raw[col.name].replace("", None)).sum()
                assert got[col.name].astype(float).sum() == pytest.approx(want, rel=1e-12), (spec.name, col.name)
            elif col.kind in ("str", "enum", "date"):
                want = sorted(v.upper() if col.upper else v for v in raw[col.name] if v != "")
                assert sorted(str(v) for v in got[col.name] if v is not None and not pd.isna(v)) == want, \
                    (spec.name, col.name)
    assert set(frames["models"]["model_id"]) == set(raw_models(folder))


def raw_models(folder):
    return pd.read_csv(folder / "models.csv", dtype=str)["model_id"].unique()


def test_planted_problems_are_found(sample, engine):
    folder, summary = sample
    snap = import_book(engine, folder)
    with engine.connect() as conn:
        frames = repo.read_book_frames(conn, snap)
        as_of = repo.snapshot_info(conn).as_of
    found = run_checks(frames, as_of, default_policy())
    for code, accounts in summary["planted"].items():
        got = set(found[found["code"] == code]["account_id"])
        assert set(accounts) <= got, code
    assert set(found["account_id"]) == {a for accs in summary["planted"].values() for a in accs}
