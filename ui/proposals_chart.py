"""The Proposals panel's chart: asset-class weights before and after against the model and its
bands (pyqtgraph)."""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui import fmt
from ui.budget_text import budget_html
from ui.proposals_frames import household_note

class PercentAxis(pg.AxisItem):
    def tickStrings(self, values, scale, spacing):
        decimals = 0 if spacing >= 0.01 else 1
        return [f"{v * 100:.{decimals}f}%" for v in values]


class ClassAxis(pg.AxisItem):
    """Asset-class names beside their bars (set with :meth:`set_names`)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.names: list[str] = []

    def set_names(self, names: list[str]) -> None:
        self.names = list(names)
        self.setTicks([[(i, n) for i, n in enumerate(self.names)], []])


class ClassWeightsChart(pg.PlotWidget):
    """Asset-class weights before (grey) and after (blue) the trades as horizontal bars, the
    model's target (black tick) and its band (red bracket), as % of account value. One row per
    class (long class names stay readable), the model's biggest class on top."""

    PRE, POST, TARGET, BAND = "#b9c3ce", "#1f5fbf", "#111111", "#c0392b"

    def __init__(self, parent=None):
        self.class_axis = ClassAxis("left")
        super().__init__(parent, background="w", axisItems={"left": self.class_axis, "bottom": PercentAxis("bottom")})
        self.setObjectName("classWeightsChart")
        pi = self.getPlotItem()
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.setMouseEnabled(x=False, y=False)
        pi.showGrid(x=True, y=False, alpha=0.15)
        pi.invertY(True)
        font = QFont()
        font.setPointSizeF(8.5)
        for side in ("left", "bottom"):
            ax = pi.getAxis(side)
            ax.setPen(pg.mkPen("#888888"))
            ax.setTextPen(pg.mkPen("#222222"))
            ax.setTickFont(font)
        pi.setTitle("Asset classes vs model", color="#222222", size="9.5pt", bold=True)
        self.legend = pi.addLegend(offset=(-4, -4), brush=pg.mkBrush(255, 255, 255, 225), pen=pg.mkPen("#bbbbbb"),
                                   labelTextColor="#222222", labelTextSize="8pt", colCount=2, verSpacing=-6)
        self.pre = pg.BarGraphItem(x0=[], y=[], width=[], height=0.36, brush=self.PRE, pen=pg.mkPen("#8d99a6"),
                                   name="Before")
        self.post = pg.BarGraphItem(x0=[], y=[], width=[], height=0.36, brush=self.POST, pen=pg.mkPen("#17498f"),
                                    name="After")
        self.band = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), left=np.zeros(0), right=np.zeros(0), beam=0.22,
                                    pen=pg.mkPen(self.BAND, width=2))
        self.target = pg.PlotCurveItem(pen=pg.mkPen(self.TARGET, width=2.5), connect="pairs", name="Model")
        self._band_sample = pg.PlotDataItem(pen=pg.mkPen(self.BAND, width=2), name="Band")
        for item in (self.pre, self.post, self.band, self.target):
            self.addItem(item)
        self.legend.addItem(self._band_sample, "Band")
        self.setMinimumSize(300, 200)
        self.classes: list[str] = []
        self.out_of_band: list[str] = []

    def set_weights(self, pre: dict, post: dict, targets: dict, bands: dict) -> None:
        classes = sorted(set(pre) | set(post) | set(targets),
                         key=lambda c: (c == "CASH", -float(targets.get(c, 0.0) or 0.0), c))
        self.classes = classes
        y = np.arange(len(classes), dtype=float)
        w_pre = np.array([float(pre.get(c, 0.0) or 0.0) for c in classes])
        w_post = np.array([float(post.get(c, 0.0) or 0.0) for c in classes])
        self.pre.setOpts(x0=np.zeros(len(classes)), y=y - 0.19, width=w_pre, height=0.36)
        self.post.setOpts(x0=np.zeros(len(classes)), y=y + 0.19, width=w_post, height=0.36)
        tx, ty = [], []
        for i, c in enumerate(classes):
            if c in targets:
                tx += [float(targets[c])] * 2
                ty += [i - 0.42, i + 0.42]
        self.target.setData(x=np.array(tx), y=np.array(ty))
        by, lo, hi = [], [], []
        self.out_of_band = []
        for i, c in enumerate(classes):
            b = bands.get(c)
            if b is not None and len(b) == 2:
                by.append(i + 0.19)
                lo.append(float(b[0]))
                hi.append(float(b[1]))
                if not (float(b[0]) - 1e-9 <= w_post[i] <= float(b[1]) + 1e-9):
                    self.out_of_band.append(c)
        lo_a, hi_a = np.array(lo), np.array(hi)
        self.band.setData(x=(lo_a + hi_a) / 2, y=np.array(by), left=(hi_a - lo_a) / 2, right=(hi_a - lo_a) / 2)
        self.class_axis.set_names(classes)
        top = max([0.05, *w_pre, *w_post, *hi, *tx]) if classes else 1.0
        rows = max(len(classes), 1)
        self.setYRange(-0.6, rows - 0.4 + 0.9, padding=0)  # a free row at the bottom for the legend
        self.setXRange(0, top * 1.08, padding=0)

    def clear_weights(self) -> None:
        self.set_weights({}, {}, {}, {})


class ProposalChart(QWidget):
    """The chart and, under it, the note on bands, households, cash owed, the tier's source and
    the budget (:meth:`show`)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        cl = QVBoxLayout(self)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        self.weights = ClassWeightsChart()
        cl.addWidget(self.weights, 1)
        self.band_note = QLabel()
        self.band_note.setObjectName("countLabel")
        self.band_note.setWordWrap(True)
        cl.addWidget(self.band_note)

    def clear(self) -> None:
        self.weights.clear_weights()
        self.band_note.setText("")

    def show_detail(self, detail: dict, rec: dict, group: str | None) -> None:
        """Draw the run's ``detail`` (the proposal's JSON) of account ``rec``; ``group`` is the
        book's group column naming its tier, if any."""
        e = html.escape
        self.weights.set_weights(detail.get("class_weights_pre") or {}, detail.get("class_weights_post") or {},
                                 detail.get("class_targets") or {}, detail.get("class_bands") or {})
        if not detail:
            note = "No optimization for this account (nothing to compare)."
        elif detail.get("band_statement"):  # re-scored after an edit: the engine's statement
            statement = detail["band_statement"]
            note = e(statement) if statement.startswith("Every") else f"<span style='color:#b3261e'>{e(statement)}</span>"
        elif self.weights.out_of_band:
            note = ("<span style='color:#b3261e'>Outside its band after the trades: "
                    + e(", ".join(self.weights.out_of_band)) + "</span>")
        else:
            note = "Every asset class is inside its band after the trades."
        if detail.get("household"):  # household wash sales: what another member's trade blocks here
            note += household_note(detail["household"])
        if detail.get("cash_needed"):  # cash owed to clients: kept, never bought with
            note += ("<br>Cash after the trades "
                     f"{fmt.money2(detail.get('cash_post'))} · reserved for cash requests: "
                     f"{fmt.money2(detail['cash_needed'])}")
        if group:  # the tier named by the book, not by the account's value
            note += (f"<br>Tier {e(str(rec.get('tier', '')))} comes from the "
                     f"book's group column ({e(group)}), not from the account's value.")
        if rec.get("tier_basis"):
            note += (f"<br><span style='color:#8a5a00'>Tier set by a value of "
                     f"{fmt.money(rec.get('value'))}: {e(str(rec['tier_basis']))}</span>")
        self.band_note.setText(note + budget_html(detail))  # budget, mode, model change
