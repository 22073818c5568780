"""The Lab panel's charts of one simulation (an :class:`engine.lab.LabResult`): the frontier (tax paid
on a log dollar axis vs mean drift, marker size = turnover, each variant labelled where its label
covers no other marker or label) and per-day lines of one metric per variant, with a selector.
Curves are made once per result; changing the metric only sets their data."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.lab.report import COLORS
from ui.chart_parts import TEXT, SymlogDollarAxis, _axis_label, _font, _legend, _plot, _title, symlog

METRICS = [("drift_mean_pct", "Mean asset-class drift, %"), ("turnover_pct", "Turnover, % of book value"),
           ("dispersion_bps", "Dispersion among accounts of a model, bps"), ("order_lines", "Order lines"),
           ("accounts_traded", "Accounts traded"), ("outside_band", "Accounts outside a band")]

def _overlap(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _place(text: str, p, r: float, taken: list, wpx: float, hpx: float):
    """A label for the marker at pixel ``p`` (radius ``r``, y up): right of it, else left, below
    or above — the first spot that covers no marker nor label and stays inside the plot."""
    w, h = 6.3 * len(text) + 4, 14.0
    a, b = p
    spots = [((a + r + 3, b), (0, 0.5), (a + r + 3, b - h / 2, w, h)),
             ((a - r - 3, b), (1, 0.5), (a - r - 3 - w, b - h / 2, w, h)),
             ((a, b - r - 2), (0.5, 0), (a - w / 2, b - r - 2 - h, w, h)),
             ((a, b + r + 2), (0.5, 1), (a - w / 2, b + r + 2, w, h))]

    def cost(spot):
        box = spot[2]
        outside = (max(0.0, -box[0]) + max(0.0, box[0] + w - wpx)) * h + (max(0.0, -box[1])
                                                                          + max(0.0, box[1] + h - hpx)) * w
        return sum(_overlap(box, t) for t in taken) + outside

    at, anchor, box = min(spots, key=cost)  # min keeps the first of equal costs
    return pg.TextItem(text, color=TEXT, anchor=anchor), at, box


class LabCharts(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.result = None
        self._lines_of = None
        self.frontier_points = None
        self.frontier_labels: list = []
        self.line_items: dict = {}
        cl = QHBoxLayout(self)
        cl.setContentsMargins(0, 0, 0, 0)
        self.frontier = _plot(left=SymlogDollarAxis("left"), xgrid=True)
        self.frontier.setObjectName("labFrontier")
        _title(self.frontier, "Tax paid vs drift (size = turnover)")
        _axis_label(self.frontier, "bottom", "mean asset-class drift after trading, %")
        _axis_label(self.frontier, "left", "tax paid, $ (log scale)")
        self.frontier.getPlotItem().getAxis("left").setWidth(78)
        cl.addWidget(self.frontier, 1)
        lines = QWidget()
        ll = QVBoxLayout(lines)
        ll.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Per day:"))
        self.metric_box = QComboBox()
        self.metric_box.setObjectName("labMetric")
        for key, text in METRICS:
            self.metric_box.addItem(text, key)
        self.metric_box.currentIndexChanged.connect(self._draw_lines)
        top.addWidget(self.metric_box, 1)
        ll.addLayout(top)
        self.lines = _plot()
        self.lines.setObjectName("labLines")
        _axis_label(self.lines, "bottom", "business day")
        self.legend = _legend(self.lines, offset=(10, 4), cols=3)
        ll.addWidget(self.lines, 1)
        cl.addWidget(lines, 1)
        self._draw_lines()  # the title and axis of the selected metric

    def set_result(self, result) -> None:
        self.result = result
        self._draw_frontier()
        QTimer.singleShot(0, self._draw_lines)  # in its own slice of the event loop

    def _colors(self) -> dict[str, str]:
        names = list(self.result.summary["variant"]) if self.result is not None else []
        return {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}

    def _draw_frontier(self) -> None:
        pi = self.frontier.getPlotItem()
        pi.clear()
        if self.result is None:
            return
        s = self.result.summary
        x = s["drift_mean_pct"].to_numpy(float)
        y = s["tax_paid"].to_numpy(float)
        t = s["turnover_pct"].to_numpy(float)
        tmax = max(float(t.max()), 1e-9)
        sizes = 12 + 30 * np.sqrt(np.clip(t, 0, None) / tmax)
        colors = self._colors()
        ys = symlog(y)  # tax spans $0 to millions: a log scale keeps the tax-aware variants apart
        self.frontier_points = pg.ScatterPlotItem(
            x=x, y=ys, size=sizes, pen=pg.mkPen("#333333", width=1),
            brush=[pg.mkBrush(pg.mkColor(colors[n]).lighter(110)) for n in s["variant"]],
            data=list(s["variant"]))
        self.frontier_points.setToolTip("Each point is one variant: mean drift across, tax paid up, turnover as size")
        pi.addItem(self.frontier_points)
        xr = max(float(x.max() - x.min()), float(x.max()) * 0.2, 0.05)
        x0, x1 = max(0.0, float(x.min()) - 0.2 * xr), float(x.max()) + 0.5 * xr
        y0, y1 = float(ys.min()) - 0.5, float(ys.max()) + 0.5
        vb = self.frontier.getPlotItem().getViewBox()
        wpx, hpx = max(vb.width(), 300.0), max(vb.height(), 200.0)
        px = np.column_stack([(x - x0) / (x1 - x0) * wpx, (ys - y0) / (y1 - y0) * hpx])  # y up
        taken = [(a - r, b - r, 2 * r, 2 * r) for (a, b), r in zip(px, sizes / 2)]  # the markers
        self.frontier_labels = []
        for i, name in enumerate(s["variant"]):
            label, at, box = _place(f"{name} · {t[i]:.1f}%", px[i], sizes[i] / 2, taken, wpx, hpx)
            taken.append(box)
            label.setFont(_font(8.5))
            label.setPos(x0 + at[0] / wpx * (x1 - x0), y0 + at[1] / hpx * (y1 - y0))
            pi.addItem(label)
            self.frontier_labels.append(label)
        pi.setXRange(x0, x1, padding=0)
        pi.setYRange(y0, y1, padding=0)

    def _draw_lines(self, *_) -> None:
        """One curve per variant (made once per result); a metric change only sets their data."""
        pi = self.lines.getPlotItem()
        key = self.metric_box.currentData()
        text = self.metric_box.currentText()
        _title(self.lines, text)
        _axis_label(self.lines, "left", text.split(", ")[-1] if ", " in text else "count")
        if self.result is None:
            return
        d = self.result.daily
        if self._lines_of is not self.result:
            pi.clear()
            self.legend.clear()
            colors = self._colors()
            self.line_items = {name: pi.plot([], [], pen=pg.mkPen(colors.get(name, "#555555"), width=2), name=name)
                               for name in d["variant"].unique()}
            self._lines_of = self.result
        for name, g in d.groupby("variant", sort=False):
            self.line_items[name].setData(g["day"].to_numpy(float), g[key].to_numpy(float))
        top = float(d[key].max()) if len(d) else 1.0
        pi.setYRange(min(0.0, float(d[key].min())), (top or 1.0) * 1.3, padding=0)  # headroom for the legend
        pi.setXRange(1, max(2, int(d["day"].max())), padding=0.02)
