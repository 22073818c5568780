"""Scale-out runs: `run --executor dask://HOST:PORT` sends the optimizer chunks to a dask cluster."""
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

import main
from engine.decide import workflow
from engine.decide.executors import open_executor, parse_spec
from engine.book.importer import import_book
from engine.core.tasks import RefusedError
from storage import models as m
from storage.db import make_engine

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


def _children() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (it lives as long as this process)."""
    pids = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                pids.add(p.pid)
        except psutil.Error:  # gone meanwhile
            pass
    return pids


@pytest.fixture(scope="module")
def cluster():
    """A two-process LocalCluster, closed at the end; no worker or nanny process may outlive it."""
    before = _children()
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None, scheduler_port=0)
    try:
        yield c
    finally:
        c.close()
        deadline = time.monotonic() + 15
        while (_children() - before) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _children() - before
        assert not left, f"LocalCluster left processes behind: {sorted(left)}"


def _spec(cluster) -> str:
    return "dask://" + cluster.scheduler_address.split("://", 1)[1]


def _outcome(db_path):
    eng = make_engine(db_path)
    try:
        with eng.connect() as conn:
            run = conn.execute(select(m.Run.id, m.Run.summary, m.Run.workers)
                               .order_by(m.Run.id.desc()).limit(1)).one()
            props = sorted(conn.execute(select(m.Proposal.account_id, m.Proposal.category, m.Proposal.status,
                                               m.Proposal.review, m.Proposal.reasons)
                                        .where(m.Proposal.run_id == run.id)).all())
            trades = sorted(conn.execute(select(m.Trade.account_id, m.Trade.category, m.Trade.symbol, m.Trade.side,
                                                m.Trade.quantity, m.Trade.lots)
                                         .join(m.Proposal, m.Proposal.id == m.Trade.proposal_id)
                                         .where(m.Proposal.run_id == run.id)).all())
    finally:
        eng.dispose()
    return json.loads(run.summary), run.workers, [tuple(p) for p in props], [tuple(t) for t in trades]


def test_dask_run_proposes_exactly_what_a_local_run_proposes(cluster, book_dir, tmp_path, monkeypatch, capsys):
    # one account per chunk, so the three accounts of the test book spread over both workers
    monkeypatch.setattr(workflow, "CHUNK", 1)
    dbs = {}
    for name, argv in (("local", ["--workers", "1"]), ("dask", ["--executor", _spec(cluster)])):
        db = str(tmp_path / f"{name}.db")
        eng = make_engine(db)
        import_book(eng, book_dir)
        eng.dispose()
        assert main.main(["run", "--db", db, *argv]) == 0, capsys.readouterr().err
        printed = json.loads(capsys.readouterr().out)
        assert printed["executor"] == ("local" if name == "local" else _spec(cluster))
        dbs[name] = _outcome(db)
    (s_local, w_local, p_local, t_local), (s_dask, w_dask, p_dask, t_dask) = dbs["local"], dbs["dask"]
    assert p_dask == p_local
    assert t_dask == t_local
    assert t_local, "the test book should propose trades"
    assert s_local["categories"] == s_dask["categories"]
    assert (s_local["executor"], s_dask["executor"]) == ("local", _spec(cluster))
    assert (w_local, w_dask) == (1, 2)  # the cluster's two worker threads


def test_unreachable_scheduler_exits_2_naming_it_and_writes_no_run(engine, book_dir, db_path, capsys):
    import_book(engine, book_dir)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.monotonic()
    assert main.main(["run", "--db", db_path, "--executor", f"dask://127.0.0.1:{port}?timeout=1"]) == 2
    assert time.monotonic() - t < 10
    err = capsys.readouterr().err
    assert f"dask://127.0.0.1:{port}" in err and "cannot reach" in err
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.Run)).scalar_one() == 0


@pytest.mark.parametrize("spec", ["dask:/nohost", "spark://h:7077", "dask://h:0", "dask://h:1?retries=3",
                                  "dask://h:99999"])
def test_bad_executor_spec_exits_2(engine, book_dir, db_path, capsys, spec):
    import_book(engine, book_dir)
    assert main.main(["run", "--db", db_path, "--executor", spec]) == 2
    assert spec in capsys.readouterr().err


def test_spec_parsing():
    assert parse_spec("local") == parse_spec("") == "local"
    d = parse_spec("dask://sched.example:8786?timeout=2.5")
    assert (d.address, d.label, d.timeout) == ("tcp://sched.example:8786", "dask://sched.example:8786", 2.5)
    assert parse_spec("dask://10.0.0.5").address == "tcp://10.0.0.5:8786"
    assert parse_spec("dask://[::1]:9000").address == "tcp://[::1]:9000"
    with pytest.raises(RefusedError, match="timeout"):
        parse_spec("dask://h:1?timeout=soon")


def test_ready_executors_are_used_as_given(engine, book_dir, cluster):
    import_book(engine, book_dir)
    with ThreadPoolExecutor(2) as pool:
        out = workflow.run_workflow(engine, executor=pool, user="tester")
    assert out.summary["executor"] == "ThreadPoolExecutor"
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        with open_executor(client.get_executor()) as choice:
            assert (choice.label, choice.workers) == (_spec(cluster), 2)
            out2 = workflow.run_workflow(engine, executor=choice.executor, user="tester")
        assert client.status == "running"  # a given executor is its owner's to close
    assert out2.summary["executor"] == _spec(cluster)
    assert out2.summary["categories"] == out.summary["categories"]
