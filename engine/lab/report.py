"""report.html of a simulation: self-contained (inline SVG charts and CSS, no script, nothing
fetched): a frontier chart (tax paid vs mean drift, turnover as marker size), per-day lines of
drift, turnover and dispersion, and the summary table."""
from __future__ import annotations

import html

import pandas as pd

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")
W, H, PAD = 640, 320, 64

TABLE_COLUMNS = [
    ("variant", "Variant", None), ("accounts_traded", "Accounts traded", "{:,.0f}"),
    ("order_lines", "Order lines", "{:,.0f}"), ("turnover_pct", "Turnover %", "{:.2f}"),
    ("turnover_annual_pct", "Turnover %/yr", "{:.1f}"), ("drift_mean_pct", "Drift mean %", "{:.2f}"),
    ("drift_p95_pct", "Drift p95 %", "{:.2f}"), ("te_mean_pct", "TE mean %", "{:.2f}"),
    ("dispersion_bps", "Dispersion bps", "{:.1f}"), ("dispersion_managed_bps", "Dispersion, managed bps", "{:.1f}"),
    ("dispersion_last20_bps", "Dispersion, last 20 days bps", "{:.1f}"),
    ("dispersion_floor_bps", "Dispersion floor bps", "{:.1f}"), ("account_days_outside_band", "Acct-days out of band", "{:,.0f}"),
    ("realized_st", "Realized ST $", "{:,.0f}"), ("realized_lt", "Realized LT $", "{:,.0f}"),
    ("tax_paid", "Tax paid $", "{:,.0f}"), ("losses_harvested", "Losses harvested $", "{:,.0f}"),
    ("wash_sale_disallowed", "Wash-sale disallowed $", "{:,.0f}"), ("costs", "Costs $", "{:,.0f}"),
    ("late_requests", "Late cash requests", "{:,.0f}"), ("late_dollars", "Late $", "{:,.0f}"),
    ("after_tax_wealth", "After-tax wealth $", "{:,.0f}"), ("after_tax_vs_band_bps", "vs band bps", "{:+.1f}"),
]


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _tick(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}B"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _axes(title: str, xlabel: str, ylabel: str, xlo, xhi, ylo, yhi) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'role="img" aria-label="{_esc(title)}">',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">{_esc(title)}</text>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 16}" y2="{H - PAD}" stroke="#333"/>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{PAD}" y2="28" stroke="#333"/>',
           f'<text x="{(W + PAD) / 2}" y="{H - 14}" text-anchor="middle" font-size="12">{_esc(xlabel)}</text>',
           f'<text x="14" y="{H / 2}" text-anchor="middle" font-size="12" '
           f'transform="rotate(-90 14 {H / 2})">{_esc(ylabel)}</text>']
    for i in range(5):
        fx = xlo + (xhi - xlo) * i / 4
        fy = ylo + (yhi - ylo) * i / 4
        x = PAD + (W - 16 - PAD) * i / 4
        y = H - PAD - (H - PAD - 28) * i / 4
        out.append(f'<text x="{x:.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="10">{_tick(fx)}</text>')
        out.append(f'<text x="{PAD - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{_tick(fy)}</text>')
    return out


def frontier_svg(summary: pd.DataFrame) -> str:
    x = summary["drift_mean_pct"].astype(float)
    y = summary["tax_paid"].astype(float)
    size = summary["turnover_pct"].astype(float)
    xlo, xhi = 0.0, max(float(x.max()) * 1.1, 1e-6)
    ylo, yhi = 0.0, max(float(y.max()) * 1.1, 1.0)
    sx, sy = _scale(xlo, xhi, PAD, W - 16), _scale(ylo, yhi, H - PAD, 28)
    smax = max(float(size.max()), 1e-9)
    out = _axes("Frontier: tax paid vs drift (marker size = turnover)", "mean asset-class drift, %",
                "tax paid, $", xlo, xhi, ylo, yhi)
    for i, (name, a, b, s) in enumerate(zip(summary["variant"], x, y, size)):
        c = COLORS[i % len(COLORS)]
        r = 4 + 16 * (s / smax) ** 0.5
        out.append(f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="{r:.1f}" fill="{c}" fill-opacity="0.6" '
                   f'stroke="{c}"><title>{_esc(name)}: drift {a:.2f}%, tax ${b:,.0f}, turnover {s:.2f}%</title></circle>')
        out.append(f'<text x="{sx(a) + r + 2:.1f}" y="{sy(b) + 4:.1f}" font-size="11">{_esc(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def lines_svg(daily: pd.DataFrame, column: str, title: str, ylabel: str) -> str:
    days = daily["day"].astype(float)
    vals = daily[column].astype(float)
    xlo, xhi = float(days.min()), max(float(days.max()), float(days.min()) + 1)
    ylo, yhi = min(0.0, float(vals.min())), max(float(vals.max()) * 1.1, 1e-6)
    sx, sy = _scale(xlo, xhi, PAD, W - 16), _scale(ylo, yhi, H - PAD, 28)
    out = _axes(title, "business day", ylabel, xlo, xhi, ylo, yhi)
    for i, (name, g) in enumerate(daily.groupby("variant", sort=False)):
        c = COLORS[i % len(COLORS)]
        pts = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(g["day"].astype(float), g[column].astype(float)))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{pts}"><title>{_esc(name)}</title></polyline>')
        out.append(f'<text x="{W - 120}" y="{40 + 14 * i}" font-size="11" fill="{c}">{_esc(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def table_html(summary: pd.DataFrame) -> str:
    cols = [c for c in TABLE_COLUMNS if c[0] in summary.columns]
    head = "".join(f"<th>{_esc(label)}</th>" for _, label, _ in cols)
    rows = []
    for _, r in summary.iterrows():
        cells = []
        for key, _, fmt in cols:
            v = r[key]
            cells.append(f"<td>{_esc(v if fmt is None or pd.isna(v) else fmt.format(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_report(result) -> str:
    s, d = result.summary, result.daily
    first = result.ledgers[result.variants[0].name].dates[0] if result.ledgers else ""
    charts = [frontier_svg(s),
              lines_svg(d, "drift_mean_pct", "Mean asset-class drift after trading", "%"),
              lines_svg(d, "turnover_pct", "One-sided turnover per day", "% of book value"),
              lines_svg(d, "dispersion_bps", "Dispersion among accounts of a model", "bps")]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>Policy lab report</title>",
        "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}"
        "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f0f0f0}"
        "td:first-child{text-align:left}svg{margin:8px 16px 8px 0;border:1px solid #eee}</style>",
        "</head>", "<body>",
        f"<h1>Policy lab: {len(s)} variant(s), {int(s['days'].max()) if len(s) else 0} business days "
        f"from {_esc(first)} to {_esc(result.last_date)}</h1>",
        "<h2>Summary</h2>", table_html(s),
        "<h2>Charts</h2>", '<div class="charts">', *charts, "</div>",
        "<p>Turnover is one-sided (max of buys and sells over book value), summed over the period; drift is "
        "½ Σ|weight − target| over asset classes and cash after trading; dispersion is the standard deviation "
        "of cumulative returns among accounts of one model (managed: accounts never suspended for bad data nor "
        "held; its floor: what taxed legacy lots alone leave, engine/lab/dispersion.py); tax is on realized gains (wash-sale losses "
        "disallowed added back) in taxable accounts; after-tax wealth also deducts the tax of liquidating "
        "every lot at the end.</p>",
        "</body>", "</html>", ""])
