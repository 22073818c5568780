"""The day's actions the main window starts: import a book, generate a sample, prepare the demo,
run the workflow, export the approved trades (with its confirmation) and the export settings.

Each asks what it needs in the GUI thread, then runs the engine's function off it as a task
(:meth:`ui.main_window.MainWindow._start`: progress, cancel) and tells the panels what changed.
A mixin of :class:`ui.main_window.MainWindow`, which owns the task bar, the settings and the
context."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QInputDialog

from engine.core.tasks import RefusedError
from engine.desk.export_routes import describe as describe_routes
from ui import dialogs, fmt
from ui.export_settings import drop_folder, export_routes, remember_folder, remembered_folder
from ui.tasks import Scaled, Task


class DayActions:
    """Needs the window's ``engine``, ``user``, ``ctx``, ``settings``, ``statusBar``, ``_start``,
    ``_task_failed``, ``_update_actions`` and ``_has_book``."""

    # ------------------------------------------------------------------ import / sample
    def import_book(self, folder: str | None = None, allow_same: bool = False,
                    as_of_ok: bool = False) -> Task | None:
        if folder is None:
            folder = dialogs.choose_folder(self, "Import a book folder", remembered_folder(self.ctx, "import")
                                           or str(self.settings.value("paths/import", "")))
            if not folder:
                return None
        remember_folder(self.ctx, "import", str(Path(folder).parent))  # per database (ui.export_settings)
        from engine.book.importer import import_book

        engine, user = self.engine, self.user

        def work(state):
            return import_book(engine, folder, user=user, state=state, allow_same=allow_same, as_of_ok=as_of_ok)

        def failed(exc):
            from engine.book.importer import AsOfRefused

            if isinstance(exc, AsOfRefused):
                if dialogs.confirm(self, "Import book", str(exc).split(";")[0] + ".",
                                   "Once imported, every book dated before it is refused as older. Is this "
                                   "date right?", ok="Import anyway"):
                    self.import_book(folder, allow_same=allow_same, as_of_ok=True)
            elif isinstance(exc, RefusedError) and "already imported" in str(exc) and dialogs.confirm(
                    self, "Import book", str(exc).split(";")[0] + ".", "Import the same files again as a new "
                    "snapshot? Runs on it start from scratch.", ok="Import again"):
                self.import_book(folder, allow_same=True, as_of_ok=as_of_ok)
            else:
                self._task_failed("Import book", exc)

        return self._start(f"Importing {Path(folder).name}", work,
                           on_done=lambda snap: self._imported(snap, folder), on_error=failed)

    def _imported(self, snapshot_id, folder) -> None:
        if snapshot_id:
            self._has_book = True  # known now; the header's background reload confirms it later
            self._update_actions()
        self.statusBar().showMessage(f"Imported {folder} as snapshot {snapshot_id}. Run the workflow next (Ctrl+R).",
                                     10000)
        self.ctx.notify("import")

    def generate_sample(self, folder: str | None = None, accounts: int | None = None) -> Task | None:
        if folder is None:
            folder = dialogs.choose_folder(self, "Folder for the sample book", str(self.settings.value("paths/sample", "")))
            if not folder:
                return None
        if accounts is None:
            accounts, ok = QInputDialog.getInt(self, "Generate sample", "Accounts in the sample book:", 2000, 1,
                                               999_999, 500)
            if not ok:
                return None
        self.settings.setValue("paths/sample", folder)
        target = Path(folder) / f"sample-book-{accounts}"
        from engine.book.importer import import_book
        from engine.book.sample import generate_sample

        engine, user = self.engine, self.user

        def work(state):
            gen = Scaled(state, 0.0, 0.4)
            generate_sample(target, accounts=accounts, seed=7, progress=gen.callback)
            return import_book(engine, target, user=user, state=Scaled(state, 0.4, 1.0), allow_same=True,
                               as_of_ok=True)  # a generated book, dated by the generator

        return self._start(f"Generating a sample of {accounts:,} accounts", work,
                           on_done=lambda snap: self._imported(snap, target))

    def start_demo(self) -> Task | None:
        """On a database with no book, generate and import the demo book (``open --demo``)."""
        from engine.desk.demo import ensure_demo_book

        engine, user = self.engine, self.user
        return self._start("Preparing the demo book", lambda state: ensure_demo_book(engine, state=state, user=user),
                           on_done=lambda snap: self._imported(snap, "the demo book") if snap else None)

    # ------------------------------------------------------------------ run
    def run_workflow(self) -> Task | None:
        from engine.decide.workflow import run_workflow

        engine, user = self.engine, self.user
        workers = self.ctx.workers or int(self.settings.value("run/workers", 0) or 0) or max(1, min(2, os.cpu_count() or 1))

        def work(state):
            if workers <= 1:
                return run_workflow(engine, workers=1, user=user, state=state)
            # worker processes come from a fork server, never forked from this threaded GUI process
            from engine.core.orphans import process_pool

            pool = process_pool(workers, "forkserver")  # and they die with it
            try:
                return run_workflow(engine, workers=workers, executor=pool, user=user, state=state)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

        return self._start("Running the workflow", work, on_done=self._ran)

    def _ran(self, outcome) -> None:
        c = outcome.summary.get("categories", {})
        self.statusBar().showMessage(
            f"Run {outcome.run_id} done: " + ", ".join(f"{v:,} {k.lower().replace('_', ' ')}" for k, v in c.items()),
            15000)
        self.ctx.notify("run")

    # ------------------------------------------------------------------ export
    def export_approved(self) -> Task | None:
        from engine.desk.exporter import export_preview

        engine = self.engine
        return self._start("Checking approved trades", lambda state: export_preview(engine),
                           on_done=self._confirm_export)

    def _confirm_export(self, preview: dict) -> None:
        stale = int(preview.get("stale", 0) or 0)
        stale_note = (f"{stale:,} approved trade(s) of an older run will not be sent: run again to "
                      "propose them on the current book." if stale else "")
        waiting = int(preview.get("awaiting_approval", 0) or 0)
        if waiting:  # four-eyes: not sent until a second user approves them
            stale_note = (stale_note + "\n\n" if stale_note else "") + (
                f"{waiting:,} manual trade(s) await a second user's approval (four-eyes) and are not in "
                "this batch.")
        blocked = int(preview.get("blocked", 0) or 0)
        if blocked:  # kept back by an override, suspension or restriction in force now: named
            lines = preview.get("blocked_lines") or []
            stale_note = (f"Not in this batch — {blocked:,} approved trade{'s' if blocked != 1 else ''} of "
                          f"{preview.get('blocked_accounts', 0):,} account(s) blocked by what is in force now "
                          "(they stay approved and go out once it ends):\n" + "\n".join(lines)
                          + (f"\n\n{stale_note}" if stale_note else ""))
        if not preview["trades"]:
            dialogs.info(self, "Export approved", "Nothing to export: no approved trade is waiting."
                         if not blocked else "Nothing to export: every approved trade waiting is blocked.", stale_note)
            return
        try:  # File → Export settings…: the book's folder and formats, and custodians' own
            routes = export_routes(self.ctx)
        except RefusedError as exc:
            dialogs.show_error(self, "Export settings", exc)
            return
        drop = drop_folder(self.ctx)
        text = (f"Export {preview['trades']:,} trade{'s' if preview['trades'] != 1 else ''} for "
                f"{preview['accounts']:,} account{'s' if preview['accounts'] != 1 else ''} "
                f"({fmt.money(preview.get('value', 0.0))} estimated)?")
        names = {"lots": "lots file"}
        if len(routes) == 1:
            informative = (f"One batch ({', '.join(names.get(f, f.upper()) for f in routes[0].formats)} and a "
                           "manifest with SHA-256 checksums); each trade is locked to it and never sent again.")
        else:
            informative = ("A batch per route below (each with its manifest and SHA-256 checksums); each trade is "
                           "locked to its batch and never sent again:\n" + "\n".join(describe_routes(routes)))
        informative += f"\n\n{stale_note}" if stale_note else ""
        if drop:
            informative += f"\n\nInto the drop folder {drop} (File → Export settings…)."
        if not dialogs.confirm(self, "Export approved", text, informative, ok="Export" if drop else "Choose folder…"):
            return
        folder = drop or dialogs.choose_folder(self, "Export the batch into", remembered_folder(self.ctx, "export")
                                               or str(self.settings.value("paths/export", "")))
        if not folder:
            return
        remember_folder(self.ctx, "export", folder)
        routes = [replace(r, folder=folder) if r.custodians is None else replace(r, folder=r.folder or folder)
                  for r in routes]
        from engine.desk.export_routes import export_routed

        engine, user = self.engine, self.user
        self._start("Exporting the batch",
                    lambda state: export_routed(engine, routes, user=user, state=state),
                    on_done=self._exported)

    def export_settings(self) -> None:
        """The drop folder and formats of this database's exports (non-blocking dialog)."""
        from ui.export_settings import ExportSettingsDialog

        self.export_settings_dialog = ExportSettingsDialog(self.ctx, self)
        self.export_settings_dialog.open()

    def _exported(self, results) -> None:
        """One result dialog per batch written (one per route with trades), or "nothing to export"."""
        from ui.batches_panel import show_batch_result

        results = list(results or [])
        # batch id, files with SHA-256 and sizes, counts, Open folder (non-blocking)
        self.batch_dialogs = [show_batch_result(self, r) for r in results] or [show_batch_result(self, None)]
        self.batch_dialog = self.batch_dialogs[0]
        if results:
            self.statusBar().showMessage(
                "; ".join(f"Batch {r.batch_id} exported: {r.n_trades:,} trades, {r.n_accounts:,} accounts"
                          for r in results) + ".", 15000)
        self.ctx.notify("export")
