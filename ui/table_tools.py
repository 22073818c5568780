"""What every table of the console does, like a desk's spreadsheet (installed by
:class:`ui.widgets.DataTable` on itself):

* Ctrl+C / "Copy rows": the selected rows, tab-separated with the header (visible columns in
  their on-screen order, raw values: numbers paste as numbers);
* "Export table to CSV… / XLSX…": every visible row (filters applied) through
  :func:`engine.desk.table_files.write_table`;
* a column chooser on the header's context menu (tick columns on and off);
* saved views per table: the header's layout (columns, order, widths, sort) and, when the
  panel offers them (``view_filters()`` / ``apply_view_filters(dict)``), its filters, kept under
  a name in the console's settings (``views/<table>``);
* "Account history (H)" on a row with an account.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

from engine.desk.table_files import tsv_text, write_table


def _context_owner(table, attr: str):
    """The nearest parent with ``attr`` (a panel's ctx, its view filters)."""
    w = table.parent()
    while w is not None and not hasattr(w, attr):
        w = w.parent()
    return w


def settings_of(table) -> QSettings:
    owner = _context_owner(table, "ctx")
    if owner is not None and getattr(owner.ctx, "settings", None) is not None:
        return owner.ctx.settings
    return QSettings("RebalanceDesk", "Rebalance Desk")


def visible_columns(table) -> list[int]:
    """Logical columns shown, in their on-screen order."""
    h = table.horizontalHeader()
    cols = [h.logicalIndex(v) for v in range(h.count())]
    return [c for c in cols if not h.isSectionHidden(c)]


def table_frame(table, rows: list[int] | None = None) -> pd.DataFrame:
    """The table as shown: visible columns titled as on screen, view rows ``rows`` (default all
    visible rows) in view order, raw values."""
    model = table.model()
    cols = visible_columns(table)
    rows = list(range(model.rowCount())) if rows is None else rows
    src = [model.source_row(r) for r in rows]
    frame = model.frame()
    data = {}
    for c in cols:
        col = model.columns[c]
        values = frame[col.key].iloc[src].tolist() if col.key in frame else [None] * len(src)
        data[col.title] = values
    return pd.DataFrame(data, columns=[model.columns[c].title for c in cols])


def selected_view_rows(table) -> list[int]:
    sm = table.selectionModel()
    return sorted({i.row() for i in sm.selectedRows()}) if sm is not None else []


def copy_rows(table) -> str:
    """Copy the selected rows (the current one when none is selected) with the header."""
    rows = selected_view_rows(table)
    if not rows and table.currentIndex().isValid():
        rows = [table.currentIndex().row()]
    text = tsv_text(table_frame(table, rows))
    QGuiApplication.clipboard().setText(text)
    return text


def export_table(table, path: str | None = None, fmt: str = "csv") -> str | None:
    """Every visible row into a CSV or XLSX file (asked for when ``path`` is None)."""
    if path is None:
        settings = settings_of(table)
        start = str(settings.value("paths/tables", ""))
        name = f"{table.objectName()}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(table, "Export table", f"{start}/{name}" if start else name,
                                              "CSV (*.csv)" if fmt == "csv" else "Excel (*.xlsx)")
        if not path:
            return None
        if not path.lower().endswith(f".{fmt}"):
            path += f".{fmt}"
        settings.setValue("paths/tables", str(Path(path).parent))
    write_table(table_frame(table), path, sheet=table.objectName())
    return path


# --------------------------------------------------------------------------- saved views
def _views_key(table) -> str:
    return f"views/{table.objectName()}"


def saved_views(table) -> dict:
    raw = settings_of(table).value(_views_key(table), "{}")
    try:
        return json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}


def save_view(table, name: str) -> dict:
    name = name.strip()
    if not name:
        raise ValueError("a view needs a name")
    view = {"header": bytes(table.horizontalHeader().saveState().toBase64()).decode()}
    panel = _context_owner(table, "view_filters")
    if panel is not None:
        view["filters"] = panel.view_filters()
    views = saved_views(table)
    views[name] = view
    settings_of(table).setValue(_views_key(table), json.dumps(views))
    return view


def apply_view(table, name: str) -> bool:
    view = saved_views(table).get(name)
    if view is None:
        return False
    table.horizontalHeader().restoreState(QByteArray.fromBase64(view["header"].encode()))
    panel = _context_owner(table, "apply_view_filters")
    if panel is not None and "filters" in view:
        panel.apply_view_filters(view["filters"])
    return True


def delete_view(table, name: str) -> None:
    views = saved_views(table)
    views.pop(name, None)
    settings_of(table).setValue(_views_key(table), json.dumps(views))


# --------------------------------------------------------------------------- menus
def set_column_visible(table, column: int, visible: bool) -> None:
    h = table.horizontalHeader()
    if not visible and len(visible_columns(table)) <= 1:
        return  # the last column stays
    h.setSectionHidden(column, not visible)


def header_menu(table) -> QMenu:
    menu = QMenu(table)
    menu.setObjectName("columnChooser")
    model = table.model()
    h = table.horizontalHeader()
    for c in range(model.columnCount()):
        a = QAction(str(model.headerData(c, Qt.Orientation.Horizontal)), menu)
        a.setCheckable(True)
        a.setChecked(not h.isSectionHidden(c))
        a.toggled.connect(lambda on, c=c: set_column_visible(table, c, on))
        menu.addAction(a)
    menu.addSeparator()
    _views_menu(table, menu)
    return menu


def _views_menu(table, menu: QMenu) -> None:
    def ask_save():
        name, ok = QInputDialog.getText(table, "Save view", "Name of the view (columns, sort and filters):")
        if ok and name.strip():
            save_view(table, name)
    menu.addAction("Save view as…", ask_save)
    views = saved_views(table)
    if views:
        sub = menu.addMenu("Views")
        for name in sorted(views):
            sub.addAction(name, lambda n=name: apply_view(table, n))
        dele = menu.addMenu("Delete view")
        for name in sorted(views):
            dele.addAction(name, lambda n=name: delete_view(table, n))


def row_menu(table) -> QMenu:
    menu = QMenu(table)
    menu.setObjectName("tableMenu")
    menu.addAction("Copy rows (Ctrl+C)", lambda: copy_rows(table))
    menu.addAction("Export table to CSV…", lambda: export_table(table, fmt="csv"))
    menu.addAction("Export table to XLSX…", lambda: export_table(table, fmt="xlsx"))
    if table.current_account():
        menu.addSeparator()
        menu.addAction(f"Account history of {table.current_account()} (H)", table.open_history)
    menu.addSeparator()
    _views_menu(table, menu)
    return menu


def install(table) -> None:
    """Context menus on the table and its header."""
    table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    table.customContextMenuRequested.connect(lambda pos: row_menu(table).popup(table.viewport().mapToGlobal(pos)))
    h = table.horizontalHeader()
    h.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    h.customContextMenuRequested.connect(lambda pos: header_menu(table).popup(h.mapToGlobal(pos)))
