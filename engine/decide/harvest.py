"""What a harvested loss is worth, and whether a harvest pays for itself.

Pure numpy, elementwise over tax lots (rates may be scalars or per-lot arrays).

A loss harvested today lowers today's tax, but the substitute bought with the proceeds has the
lower basis, so the same amount of gain is taxed later, when the position is finally sold.
With the policy's ``[harvest]`` section (``value = "deferral"``) a loss of ``L`` dollars is worth
its present value::

    value = L * (rate_now - rate_later * (1 + r) ** -h)
          = L * rate_later * (1 - (1 + r) ** -h)        (the deferral)
          + L * (rate_now - rate_later)                 (the conversion)

where ``rate_now`` is the rate of the lot's term (short-term rate for a short-term lot, else
long-term), ``rate_later`` the long-term rate when ``st_conversion`` counts (a short-term loss
offsets gains taxed at the short-term rate today, the basis it leaves is taxed at the long-term
rate later) else ``rate_now`` (no conversion value), ``r`` = ``discount_rate`` a year and ``h`` =
``horizon_years`` (when the deferred gain is expected to be realized).  ``value = "full"`` is the
old valuation: ``L * rate_now`` (as if the tax saved were never paid back).

A lot is a harvest candidate only when its value exceeds what the harvest costs: its legs'
trading cost (``legs * cost_bps`` of the lot's value), an order line a leg (``legs *
ticket_cost``) and the substitute's tracking difference while it is held (``substitute_bps`` of
the lot's value), and also the policy's minimum loss (``harvest_min_loss_pct`` of cost and
``harvest_min_loss_dollars``).  The legs are the loss sale and the substitute's buy, and with
``[harvest] round_trip`` (the shipped default) the switch back too: the substitute's sale and the
model security's buy, four in all.
"""
from __future__ import annotations

import numpy as np

HARVEST_VALUES = ("deferral", "full")


def deferral_factor(discount_rate: float, horizon_years: float) -> float:
    """1 - (1 + r)^-h: the share of a tax that is saved by paying it h years later."""
    return 1.0 - (1.0 + float(discount_rate)) ** -float(horizon_years)


def loss_value_rate(short, st_rate, lt_rate, *, value: str, discount_rate: float,
                    horizon_years: float, st_conversion: bool):
    """Dollars a harvested loss is worth per dollar of loss (elementwise over lots)."""
    short = np.asarray(short, dtype=bool)
    st_rate = np.asarray(st_rate, dtype=float)
    lt_rate = np.asarray(lt_rate, dtype=float)
    now = lt_rate + (st_rate - lt_rate) * short
    if value == "full":
        return now * 1.0
    if value != "deferral":
        raise ValueError(f"harvest value must be one of {HARVEST_VALUES}, not {value!r}")
    later = lt_rate if st_conversion else now
    return now - later * (1.0 + float(discount_rate)) ** -float(horizon_years)


def harvest_cost(lot_value, *, cost_bps: float, ticket_cost: float, substitute_bps: float, legs: int = 2):
    """Dollars a harvest of a whole lot costs: its legs' trading cost, a ticket a leg and the
    substitute's tracking difference (elementwise).  ``legs``: 2 (the loss sale and the
    substitute's buy) or 4 (``[harvest] round_trip``: and later the substitute's sale and the
    model security's buy back)."""
    lot_value = np.asarray(lot_value, dtype=float)
    return lot_value * ((legs * cost_bps + substitute_bps) * 1e-4) + legs * ticket_cost
