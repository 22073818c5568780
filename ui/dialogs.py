"""Message boxes and pickers, in one place (tests answer them by monkeypatching
``QMessageBox.exec`` and ``QFileDialog.getExistingDirectory``)."""
from __future__ import annotations

import traceback

from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.book.book import BookError
from engine.core.tasks import Cancelled, RefusedError
from storage.db import redact

MAX_LINES = 20


def _box(parent, icon, title: str, text: str, informative: str = "", detail: str = "",
         buttons=QMessageBox.StandardButton.Ok, default=None) -> QMessageBox:
    box = QMessageBox(icon, title, text, buttons, parent)
    if informative:
        box.setInformativeText(informative)
    if detail:
        box.setDetailedText(detail)
    if default is not None:
        box.setDefaultButton(default)
    box.setObjectName("messageBox")
    return box


def explain(exc: BaseException) -> tuple[str, str, str]:
    """(text, informative, detail) of an error, in words an operator can act on."""
    if isinstance(exc, BookError):
        lines = [str(p) for p in exc.problems]
        head = (f"The book folder was refused: {len(lines)} problem{'s' if len(lines) != 1 else ''} "
                "to fix. Nothing was imported.")
        shown = "\n".join(lines[:MAX_LINES])
        if len(lines) > MAX_LINES:
            shown += f"\n… and {len(lines) - MAX_LINES:,} more (Show Details)"
        return head, shown, exc.summary()
    if isinstance(exc, RefusedError):
        first, _, rest = str(exc).partition("\n")
        return first, rest.strip(), ""
    if isinstance(exc, Cancelled):
        return "Cancelled; nothing was changed.", "", ""
    detail = getattr(exc, "__traceback_text__", "") or "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Unexpected error: {type(exc).__name__}", redact(str(exc)), redact(detail)  # no URL's password


def show_error(parent, title: str, exc: BaseException | str) -> None:
    if isinstance(exc, str):
        text, info, detail = exc, "", ""
    else:
        text, info, detail = explain(exc)
    icon = QMessageBox.Icon.Warning if isinstance(exc, (RefusedError, BookError, str)) \
        else QMessageBox.Icon.Critical
    _box(parent, icon, title, text, info, detail).exec()


def info(parent, title: str, text: str, informative: str = "", detail: str = "") -> None:
    _box(parent, QMessageBox.Icon.Information, title, text, informative, detail).exec()


def confirm(parent, title: str, text: str, informative: str = "", ok: str = "OK") -> bool:
    box = _box(parent, QMessageBox.Icon.Question, title, text, informative,
               buttons=QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
               default=QMessageBox.StandardButton.Ok)
    box.button(QMessageBox.StandardButton.Ok).setText(ok)
    return box.exec() == QMessageBox.StandardButton.Ok


def choose_folder(parent, title: str, start: str = "") -> str | None:
    path = QFileDialog.getExistingDirectory(parent, title, start)
    return path or None
