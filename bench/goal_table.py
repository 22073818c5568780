"""The issue #16 goal table from policy-lab summaries (docs/decision-quality.md).

    python bench/goal_table.py OUT_DIR [OUT_DIR ...] [--vs band]

Reads each ``OUT_DIR/summary.csv`` written by ``python main.py simulate`` and prints one markdown
table: a column per variant (prefixed by its folder when several are given), a row per goal
metric, and for the reference variant's comparison the change against it.  Numbers are the
lab's own (engine/lab/metrics.py); nothing is recomputed here.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROWS = (("tax paid", "tax_paid", "$"), ("losses harvested", "losses_harvested", "$"),
        ("turnover after day 1", "turnover_after_day1", "%"), ("order lines", "order_lines", "n"),
        ("dispersion, end (bps)", "dispersion_bps", "f"),
        ("… of the managed accounts (never suspended or held)", "dispersion_managed_bps", "f"),
        ("… over the last 20 days", "dispersion_last20_bps", "f"),
        ("… of the managed accounts, over the last 20 days", "dispersion_managed_last20_bps", "f"),
        ("… its floor: taxed legacy lots, untradable accounts whole (engine/lab/dispersion.py)", "dispersion_floor_bps", "f"),
        ("managed accounts", "managed_accounts", "n"),
        ("mean drift (%)", "drift_mean_pct", "f"),
        ("drift, end (%)", "drift_end", "f"),
        ("tracking error, mean (%)", "te_mean_pct", "f"),
        ("account-days outside a band", "account_days_outside_band", "n"),
        ("… not excused (not suspended, held or flagged)", "account_days_outside_band_unflagged", "n"),
        ("after-tax wealth at liquidation vs band (bps)", "after_tax_vs_band_bps", "f"),
        ("after-tax wealth, deferral valued, vs band (bps)", "after_tax_deferred_vs_band_bps", "f"),
        ("… and the market's move removed, vs band (bps)", "after_tax_ex_market_vs_band_bps", "f"),
        ("trading costs", "costs", "$"),
        ("late cash requests", "late_requests", "n"),
        ("requests of accounts suspended for bad data when due (manual cash-out)", "unpayable_requests", "n"))


def _fmt(v, kind):
    if pd.isna(v):
        return "–"
    if kind == "$":
        return f"${v / 1e6:,.2f} M" if abs(v) >= 1e6 else f"${v / 1e3:,.1f} k"
    if kind == "%":
        return f"{v:.2f} %"
    if kind == "p":
        return f"{v:+.3f} %"
    if kind == "n":
        return f"{int(v):,}"
    return f"{v:.2f}"


def load(dirs: list[str]) -> pd.DataFrame:
    frames = []
    for d in dirs:
        s = pd.read_csv(Path(d) / "summary.csv")
        daily = pd.read_csv(Path(d) / "daily.csv")
        first = daily[daily["day"] == 1].set_index("variant")["turnover_pct"]
        last = daily[daily["day"] == daily["day"].max()].set_index("variant")["drift_mean_pct"]
        s["turnover_after_day1"] = s["turnover_pct"] - s["variant"].map(first).fillna(0.0)
        s["drift_end"] = s["variant"].map(last)
        if len(dirs) > 1:
            s["variant"] = Path(d).name + ":" + s["variant"]
        frames.append(s)
    return pd.concat(frames, ignore_index=True)


def table(s: pd.DataFrame, vs: str) -> str:
    ref = s[s["variant"].str.endswith(vs)]
    ref = ref.iloc[0] if len(ref) else None
    s = s.copy()
    s["atw_vs"] = (100.0 * (s["after_tax_wealth"] / ref["after_tax_wealth"] - 1.0)) if ref is not None else float("nan")
    if ref is not None:  # against the reference, also when it ran in another folder (as the lab computes it)
        for col, src in (("after_tax_vs_band_bps", "after_tax_wealth"),
                         ("after_tax_deferred_vs_band_bps", "after_tax_wealth_deferred"),
                         ("after_tax_ex_market_vs_band_bps", "after_tax_wealth_ex_market")):
            s[col] = ((s[src] - ref[src]) / ref["value_start"] * 1e4).round(2)
    out = ["| | " + " | ".join(s["variant"]) + " |", "|---" * (len(s) + 1) + "|"]
    for label, col, kind in ROWS:
        cells = []
        for _, r in s.iterrows():
            cell = _fmt(r[col], kind) if col in r else "–"
            if ref is not None and col in ("tax_paid", "dispersion_bps", "order_lines", "drift_mean_pct", "dispersion_managed_bps",
                                                "dispersion_last20_bps", "dispersion_managed_last20_bps") \
                    and r["variant"] != ref["variant"] and ref[col]:
                cell += f" ({100.0 * (r[col] / ref[col] - 1.0):+.0f} %)"
            cells.append(cell)
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--vs", default="band", help="the reference variant (default band)")
    a = ap.parse_args(argv)
    print(table(load(a.dirs), a.vs))


if __name__ == "__main__":
    main()
