"""The main window: navigation with badges, the header, panels, actions and the task bar.

The navigation slots and the panel of each come from :mod:`ui.navigation` (``PANELS``,
``FACTORIES``); :meth:`MainWindow.set_panel` replaces one at run time. See :mod:`ui.panel` for
what a panel may implement.
"""
from __future__ import annotations


import pandas as pd
from PySide6.QtCore import QObject, QSettings, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QProgressBar, QPushButton, QSplitter, QStackedWidget, QStyle,
                               QAbstractItemView, QApplication, QToolBar, QVBoxLayout, QWidget)

from engine.desk import views
from engine.desk.change_watch import ChangeWatcher, describe_changes
from engine.core.identity import identity_note
from storage import repo
from storage.db import describe
from ui import dialogs, read_worker, themes
from ui.day_actions import DayActions
from ui.header import Header
from ui.focus import FocusKeeper
from ui.navigation import FACTORIES, PANELS
from ui.panel import AppContext, Placeholder
from ui.read_gc import ReadGC
from ui.tasks import Task
from ui.widgets import BadgeAlertRole, BadgeRole, NavDelegate



def _db_label(engine, db) -> str:
    if db is not None:
        return describe(db)
    url = engine.url.render_as_string(hide_password=True)
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else url


def _has_unsaved_edits(widget) -> bool:
    """A panel's own say (``has_unsaved_edits()``), or a table cell being edited in it."""
    own = getattr(widget, "has_unsaved_edits", None)
    if callable(own) and own():
        return True
    return any(v.state() == QAbstractItemView.State.EditingState
               for v in widget.findChildren(QAbstractItemView))


class _Reads(QObject):
    """Results of background reads, delivered in the GUI thread."""
    done = Signal(int, object)
    error = Signal(int, object)


class MainWindow(DayActions, QMainWindow):
    def __init__(self, engine, db: str | None = None, user: str = "", *, settings: QSettings | None = None,
                 workers: int | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.engine = engine
        self.user = user
        self.db = db
        self.ctx = AppContext(engine, user=user, db_label=_db_label(engine, db), settings=settings,
                              workers=workers, parent=self)
        self.settings = self.ctx.settings
        self._has_book = True  # until the header knows
        self.setWindowTitle("Rebalance Desk")
        self.resize(1440, 900)
        themes.apply(self, self.settings)  # light or dark, font scale: View menu, saved

        self._build_actions()
        self.header = Header()
        self.header.identity_note = identity_note(engine, user) if user else None
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setItemDelegate(NavDelegate(self.nav))
        self.nav.setMinimumWidth(170)
        self.nav.setUniformItemSizes(True)
        self.stack = QStackedWidget()
        self.stack.setObjectName("stack")
        self.panels: dict[str, QWidget] = {}
        for name in PANELS:
            QListWidgetItem(name, self.nav)
            factory = FACTORIES.get(name)
            widget = factory(self.ctx) if factory else Placeholder(self.ctx, name)
            self.panels[name] = widget
            self.stack.addWidget(widget)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("mainSplit")
        self.split.addWidget(self.nav)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addWidget(self.header)
        rl.addWidget(self.stack, 1)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([190, 1250])
        self.setCentralWidget(self.split)

        # status bar: database · task progress · cancel
        self.db_label = QLabel(f"Database: {self.ctx.db_label}")
        self.db_label.setObjectName("dbLabel")
        self.task_label = QLabel()
        self.task_label.setObjectName("taskLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("taskProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(240)
        self.progress.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelTask")
        self.cancel_button.clicked.connect(self.cancel_task)
        self.statusBar().addWidget(self.db_label, 1)
        self.statusBar().addPermanentWidget(self.task_label)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._show_task(None)

        self._dirty = set(PANELS)
        # header and badge reads run on their own thread (never behind a long task)
        self._reads = QThreadPool(self)
        self._reads.setMaxThreadCount(1)
        self._reads_bridge = _Reads(self)
        self._reads_bridge.done.connect(self._apply_overview)
        self._reads_bridge.error.connect(self._overview_failed)
        self._header_gen = 0
        self.header_applied = 0  # the refresh generation the header shows
        self.nav.currentRowChanged.connect(self._on_nav)
        self.ctx.changed.connect(self._on_changed)
        self.ctx.navigate.connect(self.show_panel)
        self.ctx.request.connect(self._on_request)
        self.ctx.tasks.started.connect(self._task_started)
        self.ctx.tasks.ended.connect(self._task_ended)
        # other workstations' changes: poll the audit log (every action lands there)
        self.watcher = ChangeWatcher(engine)
        self._remote_pending = None           # other desks' changes waiting for a quiet moment
        self._polling = False
        self._poll_bridge = _Reads(self)
        self._poll_bridge.done.connect(self._apply_poll)
        self._poll_bridge.error.connect(self._poll_failed)
        self.poll_timer = QTimer(self)
        self.poll_timer.setObjectName("pollTimer")
        self.poll_timer.setInterval(int(float(self.settings.value("console/poll_seconds", 5) or 5) * 1000))
        self.poll_timer.timeout.connect(self.poll_changes)
        self.poll_timer.start()
        self._restore()
        row = int(self.settings.value("main/panel", 0) or 0)
        self.nav.setCurrentRow(row if 0 <= row < len(PANELS) else 0)
        self._refresh_current()
        self.refresh_header(background=True)  # the header and badges read off the GUI thread too
        self._recover_bridge = _Reads(self)
        self._recover_bridge.done.connect(self._recovered)
        self._recover_bridge.error.connect(
            lambda _gen, exc: self.statusBar().showMessage(f"Could not check interrupted exports: {exc}", 15000))
        self.recovered: list[str] | None = None  # what the start-up check did (None: not done yet)
        self.recover_exports()
        self.focus_keeper = FocusKeeper(self)  # focus back here after every dialog
        # cycles collected in the GUI thread only (reads run on others), never a full collection
        # during a panel action (ui.read_gc)
        self.gc_guard = ReadGC(self, busy=lambda: self.ctx.tasks.busy or any(
            getattr(p, "loading", False) for p in self.panels.values()))
        # the panels' read workers started (and their imports made) while the desk looks at Today
        QTimer.singleShot(500, self, lambda: read_worker.warm_or_say(self.engine, ("ui.navigation",), self.statusBar()))

    def recover_exports(self) -> None:
        """Finish what an interrupted export left in its drop folder (``engine.desk.publish``): files of
        committed batches published, staged files of uncommitted ones removed; on a background
        thread, audited, and said in the status bar."""
        from engine.desk.publish import recover_exports

        engine, user, bridge = self.engine, self.user, self._recover_bridge

        def work():
            try:
                bridge.done.emit(0, recover_exports(engine, user=user))
            except Exception as exc:  # noqa: BLE001 - reported in the status bar
                bridge.error.emit(0, exc)

        self._reads.start(work)

    def _recovered(self, _gen: int, messages: list) -> None:
        self.recovered = list(messages)
        if messages:
            self.statusBar().showMessage("Interrupted export finished: " + " · ".join(messages), 30000)
            self.ctx.changed.emit("export")

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        style = self.style()

        def act(text, slot, shortcut=None, icon=None, tip=""):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            if icon is not None:
                a.setIcon(style.standardIcon(icon))
            a.setToolTip(f"{tip or text} ({QKeySequence(shortcut).toString()})" if shortcut else (tip or text))
            a.setStatusTip(tip or text)
            a.triggered.connect(lambda checked=False: slot())
            return a

        SP = QStyle.StandardPixmap
        self.import_action = act("Import book…", self.import_book, "Ctrl+I", SP.SP_DialogOpenButton,
                                 "Import a book folder (all or nothing)")
        self.sample_action = act("Generate sample…", self.generate_sample, None, SP.SP_FileDialogNewFolder,
                                 "Write a realistic sample book folder and import it")
        self.run_action = act("Run", self.run_workflow, "Ctrl+R", SP.SP_MediaPlay,
                              "Run the workflow on the imported book")
        self.export_action = act("Export approved…", self.export_approved, "Ctrl+E", SP.SP_DialogSaveButton,
                                 "Export one batch of every approved, not yet exported trade")
        self.refresh_action = act("Refresh", lambda: self._on_changed("refresh"), "F5", SP.SP_BrowserReload,
                                  "Reload from the database")
        self.task_actions = [self.import_action, self.sample_action, self.run_action, self.export_action]
        tb = QToolBar("Actions")
        tb.setObjectName("actions")
        tb.setMovable(False)
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.import_action, self.sample_action, None, self.run_action, self.export_action, None,
                  self.refresh_action):
            tb.addSeparator() if a is None else tb.addAction(a)
        self.addToolBar(tb)
        menu = self.menuBar().addMenu("&File")
        for a in (self.import_action, self.sample_action, self.export_action):
            menu.addAction(a)
        menu.addAction(act("Export settings…", self.export_settings))
        menu.addSeparator()
        menu.addAction(act("Quit", self.close, "Ctrl+Q"))
        menu = self.menuBar().addMenu("&Run")
        menu.addAction(self.run_action)
        menu.addAction(act("Cancel the running task", self.cancel_task, "Esc"))
        menu = self.menuBar().addMenu("&View")
        for i, name in enumerate(PANELS, 1):  # Ctrl+1 ... Ctrl+9 (a tenth panel has no key)
            menu.addAction(act(name, lambda n=name: self.show_panel(n), f"Ctrl+{i}" if i <= 9 else None))
        menu.addSeparator()
        menu.addAction(self.refresh_action)
        menu.addSeparator()
        self.dark_action = act("Dark theme", lambda: themes.apply(
            self, self.settings, theme="dark" if self.dark_action.isChecked() else "light"))
        self.dark_action.setCheckable(True)
        self.dark_action.setChecked(themes.current(self.settings)[0] == "dark")
        menu.addAction(self.dark_action)
        menu.addAction(act("Larger text", lambda: themes.apply(
            self, self.settings, scale=themes.step_scale(themes.current(self.settings)[1], 1)), "Ctrl++"))
        menu.addAction(act("Smaller text", lambda: themes.apply(
            self, self.settings, scale=themes.step_scale(themes.current(self.settings)[1], -1)), "Ctrl+-"))
        menu.addAction(act("Normal text size", lambda: themes.apply(self, self.settings, scale=1.0), "Ctrl+0"))

    def _on_request(self, what: str) -> None:
        {"import": self.import_book, "sample": self.generate_sample, "run": self.run_workflow,
         "export": self.export_approved}[what]()

    # ------------------------------------------------------------------ panels
    def set_panel(self, name: str, widget: QWidget) -> None:
        """Put ``widget`` into the navigation slot ``name`` (replacing a placeholder)."""
        i = PANELS.index(name)
        old = self.panels[name]
        self.stack.insertWidget(i, widget)
        self.stack.removeWidget(old)
        old.deleteLater()
        self.panels[name] = widget
        if hasattr(widget, "restore_state"):
            widget.restore_state(self.settings)
        self._dirty.add(name)
        if self.nav.currentRow() == i:
            self.stack.setCurrentIndex(i)
            self._refresh_current()

    def panel(self, name: str) -> QWidget:
        return self.panels[name]

    def current_panel_name(self) -> str:
        return PANELS[max(0, self.nav.currentRow())]

    def show_panel(self, name: str, payload=None) -> None:
        self.nav.setCurrentRow(PANELS.index(name))
        widget = self.panels[name]
        if payload is not None and hasattr(widget, "focus_when_loaded"):
            widget.focus_when_loaded(payload)  # after the panel's background read, when one is out
        elif payload is not None and hasattr(widget, "focus"):
            widget.focus(payload)

    def _on_nav(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        self._refresh_current()

    def _refresh_current(self) -> None:
        name = self.current_panel_name()
        if name not in self._dirty:
            return
        self._dirty.discard(name)
        widget = self.panels[name]
        if hasattr(widget, "refresh"):
            try:
                widget.refresh()
            except Exception as exc:  # a broken panel must not take the console down
                self._dirty.add(name)
                dialogs.show_error(self, f"{name}: could not load", exc)

    def _on_changed(self, kind: str, reload_visible: bool = True) -> None:
        """Something changed: the visible panel reloads first (unless ``reload_visible`` is False:
        it then reloads on F5 or when shown again); the header and badges follow, read on a
        background thread (the other panels reload when shown)."""
        self._dirty = set(PANELS)
        self.ctx.overview = None
        if reload_visible:
            self._refresh_current()
        self._header_gen += 1  # what the header shows is outdated from now on
        QTimer.singleShot(0, lambda: self.refresh_header(background=True))  # after the panel painted

    def refresh_header(self, background: bool = False) -> None:
        """Header and badges from ``engine.desk.views.today`` (the Today panel's, when it just loaded it)."""
        self._header_gen += 1
        if self.ctx.overview is not None or not background:
            self._apply_overview(self._header_gen, self.ctx.overview or views.today(self.engine, top=0))
            return
        engine, gen, bridge = self.engine, self._header_gen, self._reads_bridge

        def read():
            try:
                bridge.done.emit(gen, views.today(engine, top=0))
            except Exception as exc:  # noqa: BLE001 - reported in the status bar
                bridge.error.emit(gen, exc)

        self._reads.start(read)  # a callable: no Python wrapper of a QRunnable to go stale

    def _overview_failed(self, gen: int, exc) -> None:
        if gen == self._header_gen:
            self.statusBar().showMessage(f"Could not refresh the header: {exc}", 10000)

    def _apply_overview(self, gen: int, overview: dict) -> None:
        if gen != self._header_gen:  # a newer refresh is on its way
            return
        self.header_applied = gen
        self.header.set(overview["status"], self.user)
        self._has_book = overview["status"]["snapshot"] is not None
        self._update_actions()
        badges = overview["badges"]
        for i, name in enumerate(PANELS):
            item = self.nav.item(i)
            n, alert = badges.get(name, (0, False))
            item.setData(BadgeRole, n)
            item.setData(BadgeAlertRole, alert)
            item.setToolTip({"Suspended": f"{n:,} suspended accounts", "Overrides": f"{n:,} active overrides",
                             "Proposals": f"{n:,} proposals awaiting review", "Today": f"{n:,} urgent accounts",
                             "Batches": f"{n:,} approved trades not yet exported"}.get(name, name))

    # ------------------------------------------------------------------ other desks
    def poll_changes(self) -> None:
        """Look (off the GUI thread) for audit entries this console has not seen yet."""
        if self._remote_pending is not None:
            self._apply_remote()
            return
        if self._polling:
            return
        self._polling = True
        watcher, bridge = self.watcher, self._poll_bridge

        def read():
            try:
                bridge.done.emit(0, watcher.poll())
            except Exception as exc:  # noqa: BLE001 - reported in the status bar
                bridge.error.emit(0, exc)

        self._reads.start(read)  # a callable: no Python wrapper of a QRunnable to go stale

    def _poll_failed(self, _gen: int, exc) -> None:
        self._polling = False
        self.statusBar().showMessage(f"Could not check for other users' changes: {exc}", 10000)

    def _apply_poll(self, _gen: int, changes) -> None:
        self._polling = False
        # this console's own actions refreshed it already; everything else is another desk's
        # (another user, the same user on another workstation, or a script)
        others = changes[changes["session"] != repo.session_id()]
        if len(others):
            self._remote_pending = others if self._remote_pending is None else \
                pd.concat([self._remote_pending, others])
            self._apply_remote()

    def _apply_remote(self) -> None:
        """Reload for other desks' changes, unless a task or a dialog is in the way (then the
        next tick retries). A panel with unsaved edits is not reloaded under the user's hands:
        it says so and waits for F5."""
        if self.ctx.tasks.busy or QApplication.activeModalWidget() is not None:
            return
        changes, self._remote_pending = self._remote_pending, None
        what = f"Updated with other users' changes — {describe_changes(changes)}"
        widget = self.panels[self.current_panel_name()]
        editing = _has_unsaved_edits(widget)
        if editing:
            what += f". {self.current_panel_name()} has unsaved edits: press F5 to reload it"
        self._on_changed("remote", reload_visible=not editing)
        self.last_remote_message = what
        self.statusBar().showMessage(what, 20000)

    # ------------------------------------------------------------------ tasks
    def _start(self, title: str, fn, on_done, on_error=None) -> Task | None:
        if self.ctx.tasks.busy:
            dialogs.info(self, "Busy", f"{self.ctx.tasks.current.title} is still running.",
                         "Wait for it to finish or cancel it first.")
            return None
        task = self.ctx.run_task(title, fn, on_done=on_done,
                                 on_error=on_error or (lambda exc: self._task_failed(title, exc)),
                                 on_cancel=lambda: self.statusBar().showMessage(
                                     f"{title}: cancelled; nothing was changed.", 8000))
        return task

    def _task_started(self, task: Task) -> None:
        task.progress.connect(self._task_progress)  # every task, also those a panel starts (Lab)
        self._show_task(task)

    def _task_ended(self, task: Task) -> None:
        self._show_task(None)

    def _show_task(self, task: Task | None) -> None:
        busy = task is not None
        for w in (self.task_label, self.progress, self.cancel_button):
            w.setVisible(busy)
        self._update_actions()
        if busy:
            self.task_label.setText(f"{task.title}…")
            self.progress.setValue(0)
            self.cancel_button.setEnabled(True)
            self.cancel_button.setText("Cancel")

    def _update_actions(self) -> None:
        busy = self.ctx.tasks.busy
        for a in self.task_actions:
            a.setEnabled(not busy)
        if not busy and not self._has_book:
            self.run_action.setEnabled(False)
            self.run_action.setStatusTip("Import a book first")

    def _task_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        task = self.ctx.tasks.current
        if task is not None and not task.cancel_requested:
            self.task_label.setText(f"{task.title}: {message}" if message else f"{task.title}…")

    def cancel_task(self) -> None:
        task = self.ctx.tasks.current
        if task is None:
            return
        task.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.task_label.setText(f"{task.title}: cancelling, rolling back…")

    def _task_failed(self, title: str, exc: BaseException) -> None:
        dialogs.show_error(self, title, exc)

    # ------------------------------------------------------------------ settings
    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("main/state")
        if state is not None:
            self.restoreState(state)
        split = s.value("main/split")
        if split is not None:
            self.split.restoreState(split)
        for w in self.panels.values():
            if hasattr(w, "restore_state"):
                w.restore_state(s)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("main/geometry", self.saveGeometry())
        s.setValue("main/state", self.saveState())
        s.setValue("main/split", self.split.saveState())
        s.setValue("main/panel", self.nav.currentRow())
        for w in self.panels.values():
            if hasattr(w, "save_state"):
                w.save_state(s)
        s.sync()

    def closeEvent(self, event) -> None:
        task = self.ctx.tasks.current
        if task is not None:
            if not dialogs.confirm(self, "Quit", f"{task.title} is still running.",
                                   "Cancel it (nothing it was writing is kept) and quit?", ok="Cancel and quit"):
                event.ignore()
                return
            task.cancel()
            self.ctx.tasks.wait()
        self.poll_timer.stop()
        self._reads.waitForDone(10_000)
        self.save_settings()
        super().closeEvent(event)
