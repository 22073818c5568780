"""The Policy panel's field table: the form's sections, each setting's label, unit, range and
help text, the mandate kinds' titles, the tier table's columns and review modes, and the settings
that link to the policy lab."""
from __future__ import annotations

SECTIONS = [("checks", "Data checks"), ("mandates", "Mandates"), ("bands", "Asset-class bands"),
            ("trading", "Trading and tax"), ("harvest", "Harvest value"),
            ("outliers", "Outlier flags (review = outliers)"), ("retention", "Retention")]

# key -> (label, prefix, suffix, decimals, help)
FIELDS: dict[str, tuple[str, str, str, int, str]] = {
    "retention.keep_snapshots": ("Keep the lots of the newest", "", " snapshots", 0,
                                 "Each import deletes the lots, custodian positions and transactions of "
                                 "older book snapshots; runs, proposals, trades, batches and the audit log "
                                 "are always kept."),
    "retention.keep_run_details": ("Keep the proposal detail of the newest", "", " runs", 0,
                                   "Each run reduces older runs to their summary: their proposals keep category, "
                                   "score, flags, reasons and decisions, but no longer the class weights and cash "
                                   "figures behind them; trades, batches and the audit log are always kept."),
    "checks.stale_price_days": ("Stale price after", "", " days", 0,
                                "A price older than this many days before the book date suspends its holders "
                                "(STALE_PRICE)."),
    "checks.recon_tolerance_shares": ("Reconciliation tolerance", "", " shares", 4,
                                      "Lots and custodian may differ by this many shares before RECON_BREAK."),
    "checks.feed_max_age_days": ("Custodian file max age", "", " days", 0,
                                 "A custodian file older than the book date minus this is FEED_MISSING."),
    "checks.max_price_move": ("Bad price: move above", "", " × last price", 1,
                              "A price more than this many times above or below the security's last known "
                              "price (an earlier book's) suspends its holders (BAD_PRICE)."),
    "checks.max_price": ("Bad price: price above", "$", "", 0,
                         "A price above this (or at or below zero) suspends its holders (BAD_PRICE)."),
    "mandates.trade_now": ("Mandate kinds that trade now", "", "", 0,
                           "Checked kinds trade as mandates in this run; the others wait for the score step."),
    "mandates.cash_horizon_days": ("Cash request horizon", "", " days", 0,
                                   "Cash requests due within this many days are mandates."),
    "bands.absolute": ("Absolute width (fraction)", "", "", 3,
                       "Classes with a target of at least the cutoff may drift this much (0.05 = 5 points)."),
    "bands.relative": ("Relative width (fraction)", "", "", 3,
                       "Smaller classes may drift this share of their target (0.25 = 25%)."),
    "bands.cutoff": ("Cutoff (fraction)", "", "", 3, "The target weight that separates absolute from relative bands."),
    "bands.min_width": ("Minimum width (fraction)", "", "", 3, "No band is narrower than this."),
    "bands.trade_to": ("Band mandate trades to (0 edge, 1 target)", "", "", 2,
                       "How far a band mandate trades a class outside its band: 0 = back to the band's "
                       "edge, 1 = to the target, between = that fraction of the way."),
    "harvest.value": ("A harvested loss is worth", "", "", 0,
                      "deferral: the present value of paying the tax later, loss × (rate now − rate later "
                      "× (1 + r)^−horizon); full: loss × rate."),
    "harvest.discount_rate": ("Discount rate (a year)", "", "", 3, "r in the deferral's present value."),
    "harvest.horizon_years": ("Gain realized after", "", " years", 1,
                              "When the deferred gain is expected to be taxed."),
    "harvest.st_conversion": ("Short-term loss: ST rate now, LT later", "", "", 0,
                              "Count the rate difference when a short-term loss offsets short-term gains and "
                              "its lower basis is taxed at the long-term rate later."),
    "harvest.substitute_bps": ("Substitute tracking cost", "", " bps", 1,
                               "Cost of holding the substitute instead of the model security, bps of the lot; "
                               "a harvest must be worth more than this, its legs' trading cost and a ticket a leg."),
    "harvest.round_trip": ("Harvest pays for the switch back", "", "", 0,
                           "Count four legs (loss sale, substitute buy, and later the substitute's sale and "
                           "the model security's buy back) in a harvest's cost, not two."),
    "trading.tradeoff_lambda": ("Dispersion vs tax weight (λ)", "", "", 3,
                                "Higher cares more about drift from the model, lower more about realized tax."),
    "trading.cost_bps": ("Trading cost", "", " bps", 2, "Estimated cost in bps of traded value."),
    "trading.ticket_cost": ("Ticket cost", "$", "", 2, "Cost per order line."),
    "trading.min_trade_dollars": ("Minimum trade", "$", "", 0, "Trades smaller than this are dropped."),
    "trading.min_trade_shares": ("Minimum trade (shares)", "", "", 0, "Trades of fewer shares are dropped."),
    "trading.harvest_min_loss_pct": ("Harvest: minimum loss (fraction of cost)", "", "", 3,
                                     "Harvest a lot when its loss is at least this share of its cost "
                                     "(0.05 = 5%)."),
    "trading.harvest_min_loss_dollars": ("Harvest: minimum loss", "$", "", 0,
                                         "…and at least this many dollars."),
    "trading.wash_sale_days": ("Wash-sale window", "", " days", 0,
                               "A security sold at a loss is not bought back within this many days."),
    "trading.multi_lot_order_lines": ("One order line per lot sold", "", "", 0,
                                      "Export one order line per lot instead of per account, symbol and side."),
    "trading.cross_class_substitution": ("Substitutes across asset classes", "", "", 0,
                                         "Allow harvest substitutes of another asset class."),
    "trading.band_penalty": ("Band penalty", "", "", 1,
                             "Penalty weight when asset-class bands cannot all be met."),
    "trading.security_vol": ("Substitute tracking (security vol)", "", "", 3,
                             "A security's own volatility apart from its substitute group: above 0, a "
                             "substitute held for the model security counts as tracking error (less "
                             "dispersion for more tax and order lines; docs/decision-quality.md)."),
    "trading.security_vol_untaxed": ("Substitute tracking where no tax is paid", "", "", 3,
                                     "The security vol above in accounts that pay no tax (the larger of "
                                     "the two): every lot there sells without tax (docs/decision-quality.md)."),
    "trading.security_vol_free": ("Substitute tracking where selling is tax-free", "", "", 3,
                                  "Taxable accounts: a security held above its model weight counts as "
                                  "tracking error at this vol, but only the part its tax-free lots (at a "
                                  "loss or no gain) can sell, and cash above the model's; 0 = off."),
    "trading.free_tax_bps": ("Tax-free lot: tax up to", "", " bps", 1,
                             "A lot counts as tax-free to sell when its tax is at most this many bps of "
                             "its value (0 = only lots at a loss or at no gain)."),
    "trading.drop_unpaid_lines": ("Drop lines that do not pay their ticket", "", "", 0,
                                  "Drop order lines whose ticket and trading cost exceed what they bring "
                                  "(never a mandate's, a harvest's, or one the cash or a band needs)."),
    "trading.min_drift_trade_dollars": ("Minimum drift line", "$", "", 0,
                                        "With dropped unpaid lines: a drift line under this is dropped too "
                                        "(never a mandate's, a harvest's, or one the cash or a band needs); 0 = off."),
    "outliers.max_turnover_pct": ("Turnover above", "", " % of value", 2, "Traded value, % of account value."),
    "outliers.max_realized_tax_pct": ("Realized tax above", "", " % of value", 2,
                                      "Realized tax, % of account value."),
    "outliers.max_te_post": ("Tracking error after trades above", "", "", 4,
                             "Post-trade tracking error still above this (0.01 = 1%)."),
    "outliers.max_single_trade_pct": ("Single trade above", "", " % of value", 2,
                                      "Largest single trade, % of account value."),
}
MANDATE_TITLES = {"cash_high": "High-priority cash requests", "cash_normal": "Normal cash requests",
                  "restriction": "Restricted holdings (screens)", "band": "Asset-class band breaches"}
REVIEWS = [("none", "None (auto)"), ("outliers", "Outliers"), ("all", "All accounts")]
TIER_COLUMNS = [("name", "Tier"), ("min_value", "From value"), ("max_value", "Up to value"),
                ("review", "Review"), ("threshold_start_bps", "Threshold start"),
                ("threshold_floor_bps", "Threshold floor"), ("half_life_days", "Half-life"),
                ("four_eyes", "Four-eyes")]
BIG = 1e13
# settings on the lab's frontier (tax, drift, turnover): each gets a "see in Lab" link
LAB_KEYS = ("trading.tradeoff_lambda", "bands.absolute", "bands.relative", "bands.trade_to",
            "trading.harvest_min_loss_pct", "trading.harvest_min_loss_dollars", "harvest.value",
            "harvest.discount_rate", "harvest.horizon_years", "harvest.st_conversion", "harvest.substitute_bps",
            "harvest.round_trip", "trading.min_drift_trade_dollars", "trading.min_trade_dollars",
            "trading.security_vol", "trading.drop_unpaid_lines", "trading.security_vol_untaxed",
            "trading.security_vol_free", "trading.free_tax_bps")


def _label(key: str) -> str:
    return FIELDS.get(key, (key.split(".")[-1].replace("_", " ").capitalize(),))[0]
