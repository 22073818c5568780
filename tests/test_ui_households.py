"""The Households panel and the name/household search, with real widgets (pytest-qt, offscreen)."""
from __future__ import annotations

from qt_fixtures import shown as show_loaded
from qt_fixtures import boxes, close_window, make_window, settings, wait_loaded  # noqa: F401

from bookkit import eager_policy
from test_households import ACC, _book

import pandas as pd

from engine.book.importer import import_book
from engine.decide.workflow import run_workflow
from ui.households_panel import HouseholdsPanel
from ui.read_worker import worker_processes


def _desk(engine, tmp_path):
    accounts = ACC + ["X1,Olivia Jones,GROWTH,SCHWAB,50000,true,0.37,0.20,,,,"]
    import_book(engine, _book(tmp_path, accounts=accounts).folder)
    run_workflow(engine, policy=eager_policy(), workers=1)


def test_households_panel_lists_members_and_opens_one(qtbot, engine, db_path, tmp_path, settings, boxes):  # noqa: F811
    _desk(engine, tmp_path)
    w = make_window(qtbot, engine, db_path, settings)
    try:
        show_loaded(qtbot, w, "Households")
        panel = w.panel("Households")
        assert panel.model.rowCount() == 1
        assert panel.model.value(0, "household_id") == "SMITH" and panel.model.value(0, "n_accounts") == 2
        assert set(panel.members_model.frame()["account_id"]) == {"J1", "I1"}
        classes = panel.classes_model.frame().set_index("asset_class")
        assert abs(classes["target"].sum() - 1.0) < 1e-9 and abs(classes["weight"].sum() - 1.0) < 1e-9
        # read in a worker process: the same data as the read made here
        assert worker_processes(), "no read worker was started"
        here = HouseholdsPanel.read(engine)
        for key in ("households", "members", "classes"):
            pd.testing.assert_frame_equal(panel._data[key], here[key])
        assert panel._data["member_rows"] == here["member_rows"] == {"SMITH": (0, 2)}
        panel.filter.setText("jones")  # X1 is its own household: not listed
        panel.apply_filter()
        assert panel.model.rowCount() == 0
        panel.filter.setText("smith ira")
        panel.apply_filter()
        assert panel.model.rowCount() == 1
        panel.filter.setText("jones")  # hides SMITH: focusing on its member I1 clears the filter
        panel.apply_filter()
        panel.table.clearSelection()
        panel.current = None
        panel.focus("I1")  # an account: its household is selected
        assert panel.current == "SMITH" and panel.filter.text() == "" and panel.model.rowCount() == 1
        row = panel.members_model.find("account_id", "I1")
        panel.members.select_row(row)
        panel.open_button.click()
        qtbot.waitUntil(lambda: w.current_panel_name() == "Proposals", timeout=5000)
        wait_loaded(qtbot, w.panel("Proposals"))  # the run is read off the GUI thread, then I1 shown
        assert w.panel("Proposals").current == "I1"
    finally:
        close_window(w, boxes)


def test_proposals_find_accounts_by_client_name_and_household(qtbot, engine, db_path, tmp_path, settings,
                                                              boxes):  # noqa: F811
    _desk(engine, tmp_path)
    w = make_window(qtbot, engine, db_path, settings)
    try:
        show_loaded(qtbot, w, "Proposals")
        panel = w.panel("Proposals")
        shown = set()
        for tier in panel._tiers:  # every tier's tab, with the text filter on
            panel.set_tier(tier)
            panel.filter.setText("SMITH")
            panel.apply_filter()
            shown |= {panel.model.value(r, "account_id") for r in range(panel.model.rowCount())}
        assert shown == {"J1", "I1"}
        panel.filter.setText("olivia jones")
        names = set()
        for tier in panel._tiers:
            panel.set_tier(tier)
            panel.apply_filter()
            names |= {panel.model.value(r, "name") for r in range(panel.model.rowCount())}
        assert names == {"Olivia Jones"}
    finally:
        close_window(w, boxes)


def test_policy_panel_keeps_the_household_settings_it_does_not_show(qtbot, engine, db_path, settings, boxes):  # noqa: F811
    from engine.core.policy import default_policy

    pol = default_policy()
    pol = pol.model_copy(update={"tier_by": "household", "tax_drag_bps": {"US Bonds": 40.0}, "tiers": tuple(
        t.model_copy(update={"household_optimization": t.name == "UHNW" or None}) for t in pol.tiers)})
    w = make_window(qtbot, engine, db_path, settings)
    try:
        panel = w.panel("Policy")
        panel.set_policy(pol, None)
        data = panel.form_dict()
        assert data["tier_by"] == "household" and data["tax_drag_bps"] == {"US Bonds": 40.0}
        assert [t.get("household_optimization") for t in data["tiers"]] == \
            [True if t.name == "UHNW" else None for t in pol.tiers]
    finally:
        close_window(w, boxes)
