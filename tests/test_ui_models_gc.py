"""FrameModel over categorical text columns (sort, filter, source rows, a read's precomputed order)
and the console's garbage-collection policy (ui.read_gc), offscreen."""
import gc
import weakref

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from ui.models import Col, FrameModel, frame_order, gui_ready

COLS = [Col("symbol", "Symbol"), Col("side", "Side"), Col("qty", "Shares", "qty"), Col("name", "Name")]


def book(n=400, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array(["zeta", "Alpha", "beta", "Beta", "gamma", None], dtype=object)
    return pd.DataFrame({
        "symbol": rng.choice(["MSFT", "AAPL", "XOM", "BND", "VTI"], n),
        "side": rng.choice(["BUY", "SELL"], n),
        "qty": rng.integers(1, 50, n).astype(float),
        "name": names[rng.integers(0, len(names), n)],
    })


def shown(model: FrameModel, key: str) -> list:
    c = [col.key for col in model.columns].index(key)
    return [model.index(r, c).data(Qt.ItemDataRole.UserRole) for r in range(model.rowCount())]


def test_gui_ready_categorical_keeps_numbers_and_values():
    df = book().assign(mixed=[1, "a"] * 200)
    cat = gui_ready(df, categorical=True)
    assert isinstance(cat["symbol"].dtype, pd.CategoricalDtype)
    assert isinstance(cat["name"].dtype, pd.CategoricalDtype)
    assert cat["qty"].dtype == float and cat["mixed"].dtype == object  # not text only: left alone
    for c in ("symbol", "side", "name"):  # the same values, missing ones still missing
        assert [None if pd.isna(v) else v for v in cat[c].astype(object)] == \
            [None if pd.isna(v) else v for v in df[c]]
    assert cat["name"].isna().sum() == df["name"].isna().sum() > 0
    only = gui_ready(df, categorical=("side",))
    assert isinstance(only["side"].dtype, pd.CategoricalDtype) and only["symbol"].dtype == object


@pytest.mark.parametrize("key", ["symbol", "name", "qty"])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_on_categoricals_equals_pandas(qtbot, key, descending):
    df = book()
    m = FrameModel(COLS)
    m.set_frame(gui_ready(df, categorical=True))
    m.sort([c.key for c in COLS].index(key),
           Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
    want = df.sort_values(key, ascending=not descending, kind="stable", na_position="last")
    assert shown(m, key) == [None if pd.isna(v) else v for v in want[key]]
    # the rows behind the view: the same rows pandas puts in that order (ties keep frame order)
    assert list(m.source_rows()) == list(want.index)
    assert list(m.source_rows([0, 5, 2])) == [want.index[0], want.index[5], want.index[2]]
    assert [m.source_row(r) for r in (0, 5, 2)] == [want.index[0], want.index[5], want.index[2]]
    # cells read from codes: what the object frame holds
    assert m.index(0, [c.key for c in COLS].index(key)).data() not in (None, "") or want[key].isna().iloc[0]


def test_filters_on_categoricals_equal_pandas_and_follow_sort(qtbot):
    df = book()
    m = FrameModel(COLS)
    m.set_frame(gui_ready(df, categorical=True))
    m.sort(0, Qt.SortOrder.DescendingOrder)  # by symbol
    m.set_mask("side", (df["side"] == "SELL").to_numpy())
    m.set_text_filter("ET")  # names beta / Beta, case-insensitively, in any text column
    hit = df["side"].eq("SELL") & df["name"].fillna("").str.lower().str.contains("et")
    want = df[hit].sort_values("symbol", ascending=False, kind="stable")
    assert list(m.source_rows()) == list(want.index)
    assert shown(m, "name") == list(want["name"])
    assert m.find("name", "Beta") == (list(want["name"]).index("Beta") if "Beta" in set(want["name"]) else -1)
    assert m.find("name", "nobody") == -1
    assert m.row_dict(0)["symbol"] == want["symbol"].iloc[0]


def test_a_reads_order_is_applied_without_sorting_here(qtbot, monkeypatch):
    df = gui_ready(book(), categorical=True)
    m = FrameModel(COLS)
    m.set_frame(df)
    m.sort(3, Qt.SortOrder.DescendingOrder)  # by name, descending
    assert m.sort_spec() == ("name", True)
    df2 = gui_ready(book(seed=9), categorical=True)
    order = frame_order(df2, *m.sort_spec())  # what the panel's read makes off the GUI thread
    import ui.models

    def no_sort(*_a, **_k):
        raise AssertionError("sorted in the GUI thread")

    monkeypatch.setattr(ui.models, "sort_key", no_sort)
    m.set_frame(df2, order=("name", True, order))
    assert list(m.source_rows()) == list(order)
    want = df2.astype({"name": object}).sort_values("name", ascending=False, kind="stable", na_position="last")
    assert list(m.source_rows()) == list(want.index)
    # an order made for another sort is not used: the model sorts itself
    monkeypatch.undo()
    m.set_frame(df2, order=("symbol", False, frame_order(df2, "symbol")))
    assert list(m.source_rows()) == list(want.index)


# ---------------------------------------------------------------------- garbage collection
class Node:
    pass


def cycle():
    """A two-node cycle (garbage once the caller drops it)."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


@pytest.fixture
def read_gc(qtbot):
    from ui.read_gc import ReadGC

    state = {"busy": False, "pos": (0, 0)}
    g = ReadGC(busy=lambda: state["busy"], cursor=lambda: state["pos"], idle_s=5, full_every_s=60,
               max_skip_s=20, young=1)  # young=1: any allocation makes a young collection due
    g.timer.stop()  # the test drives the ticks
    yield g, state
    g.deleteLater()
    qtbot.wait(10)


def test_read_gc_freezes_survivors_and_collects_young_cycles(read_gc):
    g, state = read_gc
    assert not gc.isenabled()
    t0 = 1_000_000.0
    g.tick(t0)  # the cursor "moved": not idle
    frozen = gc.get_freeze_count()
    keep = [Node() for _ in range(50)]  # survivors: frozen by the next young collection
    dead = weakref.ref(cycle())  # young garbage: collected by it
    assert g.tick(t0 + 0.5) == "young"
    assert dead() is None
    assert gc.get_freeze_count() >= frozen + 50 and gc.get_count()[0] < 50
    assert gc.get_objects(2) == []  # nothing left in the old generation for a tick to walk
    del keep


def test_read_gc_freezes_a_big_young_generation_without_walking_it(read_gc):
    g, state = read_gc
    g.young_max, g.young_cap = 5_000, 20_000
    t0 = 3_000_000.0
    g.tick(t0)
    alive = cycle()
    ref = weakref.ref(alive)
    big = [[] for _ in range(6_000)]  # a big read's result: more young objects than young_max
    del alive
    assert g.tick(t0 + 0.5) == "freeze"
    assert ref() is not None and gc.get_count()[0] < 100  # not walked: the dead cycle is frozen with the rest
    state["busy"] = True
    more = [[] for _ in range(25_000)]  # past young_cap while a read is out: frozen at once
    assert g.tick(t0 + 1) == "freeze" and g.frozen_only == 2
    g.full()  # the idle full collection frees it
    assert ref() is None
    del big, more


def test_read_gc_waits_for_reads_and_runs_full_collections_only_when_idle(read_gc):
    g, state = read_gc
    t0 = 2_000_000.0
    g.tick(t0)
    g._last_full = t0
    # a cycle frozen while alive, then dropped: only a full collection frees it
    alive = cycle()
    ref = weakref.ref(alive)
    g.collect_young()
    del alive
    assert ref() is not None
    gc.collect(1)
    assert ref() is not None  # frozen: no young collection reaches it
    # a read out: young collections wait (up to max_skip_s)
    state["busy"] = True
    junk = [Node() for _ in range(10)]
    assert g.tick(t0 + 100) == "skip"  # however long since the last collection: the wait starts now
    assert g.tick(t0 + 110) == "skip"
    assert g.tick(t0 + 121) == "young"  # waited max_skip_s
    junk2 = [Node() for _ in range(10)]
    assert g.tick(t0 + 122) == "skip"  # a new wait
    # busy for minutes and the mouse still: still no full collection
    assert g.tick(t0 + 200) != "full" and ref() is not None
    # the read ends, the mouse moves: not yet
    state["busy"] = False
    state["pos"] = (5, 5)
    assert g.tick(t0 + 201) != "full"
    assert g.tick(t0 + 203) != "full"  # still for 2 s only
    g._frozen_after_full = gc.get_freeze_count()  # the heap did not grow: no full collection
    assert g.tick(t0 + 207) != "full"
    g._frozen_after_full = gc.get_freeze_count() // 2  # grew by more than a quarter since the last
    assert g.tick(t0 + 208) == "full"  # still for 7 s, nothing out, 60 s since the last
    assert ref() is None and g.full_runs == 1
    assert gc.get_freeze_count() > 0  # survivors frozen again
    g._frozen_after_full = 1
    assert g.tick(t0 + 230) != "full"  # at most every full_every_s
    state["busy"] = True
    assert g.tick(t0 + 300) != "full"  # a read out
    state["busy"] = False
    assert g.tick(t0 + 302) != "full"  # the read ended 2 s ago
    assert g.tick(t0 + 306) == "full"
    del junk, junk2


def test_read_gc_gives_collection_back_when_the_last_window_closes(qtbot, monkeypatch):
    from ui.read_gc import ReadGC

    others = ReadGC._active  # windows an earlier test left open in this process
    monkeypatch.setattr(ReadGC, "_active", 0)  # this one is the last
    try:
        g = ReadGC()
        assert not gc.isenabled() and ReadGC._active == 1
        g.deleteLater()
        qtbot.waitUntil(lambda: gc.isenabled(), timeout=5000)
        assert gc.get_freeze_count() == 0 and ReadGC._active == 0
    finally:
        if others:
            gc.disable()  # as the open windows' guards left it
