"""The console's look: a light and a dark theme and a font scale, kept in the settings
(``view/theme``, ``view/font_scale``) and applied to the main window.

The dark theme is the light stylesheet (resources/console.qss) with each colour mapped to its
dark counterpart (the navigation is dark in both), plus the few rules a dark window needs that
the light one leaves to the platform (text, inputs, menus). The font scale multiplies the
window's font and every ``font-size`` of the stylesheet.
"""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtGui import QFont

STYLESHEET = Path(__file__).resolve().parents[1] / "resources" / "console.qss"
THEMES = ("light", "dark")
SCALES = (0.9, 1.0, 1.1, 1.25, 1.4)
DARK = {
    "#ffffff": "#1e232a", "#f6f7f9": "#15191e", "#f7f9fb": "#232931", "#f0f2f5": "#262c34",
    "#eef2f7": "#2b323b", "#e8eef7": "#2b3a4f", "#f3f4f6": "#22272e", "#dde1e6": "#39414b",
    "#c3cad3": "#4a535e", "#eceff3": "#2c333c", "#1f2a37": "#e6ebf1", "#2b3643": "#d8dee6",
    "#44505e": "#c2cad4", "#5f6b7a": "#9aa6b4", "#6b7785": "#8f9baa", "#9aa4af": "#6b7580",
    "#10243d": "#e6f0ff", "#d4e4fb": "#2e4a6e", "#e8f1fd": "#1c2b40", "#1f4e8c": "#9cc2ff",
    "#c4dafa": "#2e4a6e", "#fff4e0": "#3a2e14", "#7a4d00": "#f3c56b", "#f3d49b": "#6b5220",
    "#fdecea": "#3d1f1d", "#8c1d18": "#ff9b92", "#f5c2bd": "#6b2b26", "#b3261e": "#ff6b60",
    "#1b7f3b": "#5ccf7f", "#9db7de": "#34507a",
}
DARK_EXTRA = """
QWidget { color: #dfe5ec; }
QDialog, QMenu, QMessageBox { background: #1e232a; }
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QDateEdit, QPlainTextEdit, QTextEdit {
    background: #15191e; color: #dfe5ec; border: 1px solid #4a535e; border-radius: 3px; padding: 2px 4px; }
QMenu::item:selected, QComboBox QAbstractItemView::item:selected { background: #2e4a6e; }
QTabBar::tab { background: #262c34; color: #c2cad4; padding: 5px 12px; border: 1px solid #39414b; }
QTabBar::tab:selected { background: #1e232a; color: #ffffff; }
QMenuBar { background: #1e232a; color: #dfe5ec; }
"""
_SIZE = re.compile(r"font-size:\s*(\d+(?:\.\d+)?)px")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def stylesheet(theme: str = "light", scale: float = 1.0, base: str | None = None) -> str:
    """The console's stylesheet in ``theme`` with every font size times ``scale``."""
    text = base if base is not None else (STYLESHEET.read_text(encoding="utf-8") if STYLESHEET.exists() else "")
    if theme == "dark":
        lines = []
        for line in text.splitlines():
            if line.lstrip().startswith("QListWidget#nav"):  # the navigation is dark in both themes
                lines.append(line)
            else:
                lines.append(_HEX.sub(lambda m: DARK.get(m.group(0).lower(), m.group(0)), line))
        text = "\n".join(lines) + DARK_EXTRA
    if scale != 1.0:
        text = _SIZE.sub(lambda m: f"font-size: {float(m.group(1)) * scale:.0f}px", text)
    return text


def current(settings) -> tuple[str, float]:
    theme = str(settings.value("view/theme", "light") or "light")
    try:
        scale = float(settings.value("view/font_scale", 1.0))
    except (TypeError, ValueError):
        scale = 1.0
    return (theme if theme in THEMES else "light"), (scale if scale in SCALES else 1.0)


def apply(window, settings, *, theme: str | None = None, scale: float | None = None) -> tuple[str, float]:
    """Apply (and save) the theme and the font scale to ``window``."""
    saved_theme, saved_scale = current(settings)
    theme = theme if theme in THEMES else saved_theme
    scale = scale if scale in SCALES else saved_scale
    settings.setValue("view/theme", theme)
    settings.setValue("view/font_scale", scale)
    if not hasattr(window, "_base_point_size"):
        window._base_point_size = window.font().pointSizeF()
    font = QFont(window.font())
    font.setPointSizeF(window._base_point_size * scale)
    window.setFont(font)
    window.setStyleSheet(stylesheet(theme, scale))
    return theme, scale


def step_scale(scale: float, step: int) -> float:
    i = min(range(len(SCALES)), key=lambda k: abs(SCALES[k] - scale))
    return SCALES[max(0, min(len(SCALES) - 1, i + step))]
