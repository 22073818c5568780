"""The Blotter's and the Batches panel's reads run in worker processes (ui.read_worker, issue 20
"never frozen"): each panel asks with ``in_worker`` for a module-level read, and what it shows
equals what that read gives when called here (lines, mask, totals and counts; the batches and a
batch's trades). Real widgets (pytest-qt, offscreen) on both databases."""
import pickle

import pandas as pd
from qt_fixtures import reviewed, settings, wait_loaded  # noqa: F401 - fixtures

from engine.desk.exporter import batches_frame, export_batch
from engine.desk.review import approve
from ui import batches_panel, blotter_panel
from ui.panel import AppContext
from ui.read_worker import WorkerRead


def asked(monkeypatch, module) -> list:
    """The worker reads ``module``'s panel asks for (recorded, then sent on as usual)."""
    reads = []
    real = module.in_worker

    def spy(fn, db, *args):
        read = real(fn, db, *args)
        reads.append(read)
        return read

    monkeypatch.setattr(module, "in_worker", spy)
    return reads


def shown_panel(qtbot, cls, engine, settings):  # noqa: F811
    p = cls(AppContext(engine, user="ops1", settings=settings))
    qtbot.addWidget(p)
    p.resize(1400, 860)
    p.show()
    return p


def test_the_blotter_reads_in_a_worker_process(qtbot, engine, reviewed, settings, monkeypatch):  # noqa: F811
    reads = asked(monkeypatch, blotter_panel)
    b = shown_panel(qtbot, blotter_panel.BlotterPanel, engine, settings)
    b.refresh()
    wait_loaded(qtbot, b)
    assert [r.fn for r in reads] == [blotter_panel.read_blotter]
    read = reads[0]
    assert isinstance(read, WorkerRead) and read.in_process()  # a file or a server: another process
    pickle.loads(pickle.dumps((read.fn, read.args)))  # what travels to the worker
    here = blotter_panel.read_blotter(engine, *read.args)
    back = pickle.loads(pickle.dumps(here))  # and back
    pd.testing.assert_frame_equal(back["frame"], here["frame"])
    pd.testing.assert_frame_equal(b.frame, here["frame"])
    assert len(b.frame) > 0 and b.count.text() == here["view"][1][2]
    pd.testing.assert_frame_equal(b.totals_frame().reset_index(drop=True),
                                  here["view"][1][1].reset_index(drop=True))

    # a filter is applied from the read's index, without another read
    b.set_filters(side="SELL")
    assert len(reads) == 1 and not b.loading
    sells = here["frame"]["side"] == "SELL"
    assert 0 < len(b.visible_frame()) == int(sells.sum()) < len(b.frame)


def test_the_batches_and_a_batch_s_trades_read_in_a_worker_process(qtbot, engine, reviewed, settings,  # noqa: F811
                                                                   monkeypatch, tmp_path):
    approve(engine, ["A1", "A2"], user="rev")
    res = export_batch(engine, tmp_path / "out", user="ops1")
    reads = asked(monkeypatch, batches_panel)
    p = shown_panel(qtbot, batches_panel.BatchesPanel, engine, settings)
    p.refresh()
    wait_loaded(qtbot, p)
    assert p.current == res.batch_id  # the newest batch selected, its trades read next
    qtbot.waitUntil(lambda: not p.loading and p.trades_model.rowCount() > 0, timeout=20_000)
    assert [r.fn for r in reads] == [batches_panel.batches_table, batches_panel.read_batch_trades]
    assert all(r.in_process() for r in reads) and reads[1].args == (res.batch_id,)
    assert p.model.rowCount() == len(batches_frame(engine)) == 1
    _, trades, value, sells, n_accounts = batches_panel.read_batch_trades(engine, res.batch_id)
    assert p.trades_model.rowCount() == len(trades) == res.n_trades
    assert n_accounts == 2 and f"{len(trades):,} · 2 accounts" in p.trades_title.text()
