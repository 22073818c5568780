"""A proposal's gains budget, trading mode and model change, in words for the Proposals
detail (issue 23; the numbers come from the proposal's detail, engine.decide.gains_budget)."""
from __future__ import annotations

import html

from ui import fmt


def budget_html(detail: dict) -> str:
    """HTML lines (each starting with <br>) for the Proposals detail note; "" when none apply."""
    out = []
    mode = detail.get("trading_mode")
    if mode == "cash_flow":
        out.append("Trading mode: <b>cash flow</b> — sells only for cash needs and restrictions, invests excess "
                   "cash in the most underweight classes")
    elif mode:
        out.append("Trading mode: full")
    b = detail.get("budget") or {}
    if b:
        left = float(b.get("budget_left", 0.0))
        colour = "#b3261e" if b.get("over_budget", 0.0) > 0.5 else "#1b7f3b"
        out.append(f"Gains budget {fmt.money(b.get('gains_budget'))}: used <b>{fmt.money(b.get('budget_used'))}</b>"
                   f" (this year and this proposal) · <span style='color:{colour}'>left "
                   f"<b>{fmt.money(left)}</b></span>"
                   + (f" · <span style='color:#b3261e'><b>OVER_BUDGET</b> by {fmt.money(b['over_budget'])}</span>"
                      if b.get("over_budget", 0.0) > 0.5 else ""))
    if detail.get("model_change"):
        out.append(f"Model change: {html.escape(str(detail['model_change']))}")
    return "".join(f"<br>{line}" for line in out)
