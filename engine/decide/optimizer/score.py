"""The result: trades named by lot, the score and its parts, the reasons of each line; and the
score of trades given from outside (an edited proposal)."""
from __future__ import annotations
import math
import numpy as np
from engine.decide import band_rules, gains_budget
from engine.decide.optimizer.model import AccountInput, AccountResult, OptimizerSettings, TradeLine, _max, _new_line, _nnz, _sum
from engine.decide.optimizer import tax_free
from engine.decide.optimizer.prepare import _Prep, _prepare


def _finish(p: _Prep, st: OptimizerSettings, buy_sh, sell_sh, lot_sh, status, n_solves,
            solve_time) -> AccountResult:
    inp = p.inp
    V = p.V
    w0 = p.h0
    te0 = p.te0
    Wk0 = p.Wk0
    creq = p.creq * V
    classes = p.classes
    if buy_sh is None:
        lines = 0
    else:
        traded_s = (sell_sh | buy_sh).nonzero()[0]  # both are >= 0; never both > 0
        lines = len(traded_s)
    if lines:
        price = p.price
        sell_val = sell_sh * price
        buy_val = buy_sh * price
        sv = float(_sum(sell_val))
        bv = float(_sum(buy_val))
        traded = sv + bv
        trading_cost = p.kappa * traded + st.ticket_cost * lines
        lot_px = p.lot_px
        gain = float(lot_sh @ (lot_px - p.cost))
        if inp.taxable:
            sold_d = lot_sh * lot_px
            tax = sold_d * p.tax_true
            tax_cost = float(_sum(tax[tax > 0]))
            saved = -float(_sum(tax[tax < 0]))
            harvest = float(sold_d @ p.hv)  # what the losses are worth (engine/decide/harvest.py)
        else:  # tax_true is all zeros
            tax_cost, harvest, saved = 0.0, 0.0, 0.0
        net = buy_val - sell_val
        w1 = net * (1.0 / V)
        w1 += w0
        Wk1 = np.bincount(p.ci, w1, p.K)
        ag = np.bincount(p.gi, w1, p.G) - p.Tg
        ak = Wk1 - p.Tk
        te1 = float(p.idio2 * (ag @ ag) + (p.sig2 * ak) @ ak)  # == _te2(p, w1)
        if p.own2 > 0:
            a_s = w1 - p.Ts
            te1 += p.own2 * float(a_s @ a_s)
        rating = p.rv * float(p.rho @ net)
        largest = float(max(_max(sell_val), _max(buy_val)))
        cash_post = p.c0 * V + sv - bv - trading_cost
        trades = _trade_lines(p, traded_s, buy_sh, sell_sh, lot_sh, Wk0)
        cw_post = dict(zip(classes, Wk1.tolist()))
    else:
        traded = trading_cost = gain = tax_cost = harvest = saved = rating = largest = 0.0
        te1 = te0
        cash_post = p.c0 * V
        trades = []
        cw_post = dict(zip(classes, Wk0.tolist()))
    drift = p.lam * V * (te0 - te1) / st.te_ref
    if p.fs and lines:  # the free term (tax_free.py) is drift the score counts too
        drift += p.lam * V * (p.fr0 - tax_free.te2(p, w1)) / st.te_ref
    score = drift + harvest + rating - trading_cost - tax_cost
    cw_pre = dict(zip(classes, Wk0.tolist()))
    cw_pre["CASH"] = p.c0
    cw_post["CASH"] = cash_post / V
    ctg = p.u.ctg.copy()
    ctg["CASH"] = float(inp.model_cash_w)
    short = creq - cash_post
    if st.band_mandate and (p.band_hard or lines):  # checked on the value after the trades' costs
        zero = np.zeros(p.S, dtype=np.int64)
        after = band_rules.after_costs(p, st, buy_sh if lines else zero, sell_sh if lines else zero, 0)
        unreached = band_rules.unreachable(p, Wk1 if lines else Wk0, -short, after)
    else:
        unreached = ()
    return AccountResult(
        account_id=inp.account_id, status=status, trades=trades, drift_benefit=drift,
        harvest_benefit=harvest, rating_benefit=rating, trading_cost=trading_cost,
        tax_cost=tax_cost, score=score, score_bps=score / V * 1e4, te_pre=math.sqrt(te0),
        te_post=math.sqrt(te1), turnover=traded / V, realized_gain=gain,
        realized_tax=tax_cost - saved, largest_trade=largest, class_weights_pre=cw_pre,
        class_weights_post=cw_post, class_targets=ctg, value=V, cash_post=cash_post,
        cash_required=creq, cash_shortfall=short if short > 0.005 else 0.0, n_solves=n_solves,
        solve_time=solve_time, tax_saved=saved, band_unreachable=unreached,
        budget=gains_budget.budget_state(inp.gains_budget, inp.ytd_st, inp.ytd_lt, gain)
        if inp.taxable and inp.gains_budget == inp.gains_budget else {},
    )


def score_trades(inp: AccountInput, settings: OptimizerSettings, trades) -> AccountResult:
    """Score given order lines for an account, with the code that scores the optimizer's own
    trades (:func:`_finish`): an edited proposal is described by the numbers of its trades.

    ``trades``: ``(symbol, side, shares, lots)`` per line, ``lots`` the ``(lot_id, shares)`` a
    sell relieves (``()`` for buys; a sell without lots relieves the highest basis first).
    Raises ValueError for a symbol outside the account's universe, a lot of another security,
    or a sell of more shares than its lots hold.
    """
    p = _prepare(inp, settings)
    if p.V <= 0:
        raise ValueError(f"account {inp.account_id}: value {p.V:,.2f} <= 0 cannot be scored")
    syms = {str(s): i for i, s in enumerate(np.asarray(inp.symbols).tolist())}
    lots = {str(lid): j for j, lid in enumerate(np.asarray(inp.lot_id).tolist())}
    buy_sh = np.zeros(p.S, dtype=np.int64)
    sell_sh = np.zeros(p.S, dtype=np.int64)
    lot_sh = np.zeros(p.L, dtype=np.int64)
    for symbol, side, shares, named in trades:
        s = syms.get(str(symbol))
        if s is None:
            raise ValueError(f"{symbol} is not among account {inp.account_id}'s securities")
        shares = int(shares)
        if side == "BUY":
            buy_sh[s] += shares
            continue
        sell_sh[s] += shares
        if not named:  # highest basis first among the security's lots
            left = shares
            for j in sorted((j for j in range(p.L) if p.lot_sec[j] == s), key=lambda j: -p.cost[j]):
                take = min(left, int(np.floor(p.qty[j] + 1e-9)) - int(lot_sh[j]))
                if take > 0:
                    lot_sh[j] += take
                    left -= take
            named = ()
            if left > 0:
                raise ValueError(f"sells {shares:,} {symbol} but the account's lots hold fewer")
        for lot_id, q in named:
            j = lots.get(str(lot_id))
            if j is None or p.lot_sec[j] != s:
                raise ValueError(f"lot {lot_id} is not a lot of {symbol} in account {inp.account_id}")
            lot_sh[j] += int(q)
    if _nnz(lot_sh > np.floor(p.qty + 1e-9)):
        raise ValueError(f"account {inp.account_id}: a lot is sold beyond its shares")
    if _nnz((buy_sh > 0) & (sell_sh > 0)):
        raise ValueError(f"account {inp.account_id}: a security is both bought and sold")
    p.sold_lots = np.flatnonzero(lot_sh > 0)
    return _finish(p, settings, buy_sh, sell_sh, lot_sh, "optimal", 0, 0.0)


_WHY = ("drift", "cash", "harvest", "band", "restriction")  # increasing precedence


def _trade_lines(p: _Prep, traded, buy_sh, sell_sh, lot_sh, Wk0) -> list[TradeLine]:
    """Order lines of the ``traded`` securities with lots and reasons (precedence:
    restriction, band, harvest, cash, drift)."""
    inp = p.inp
    price = p.price
    t_sell = sell_sh[traded]
    t_buy = buy_sh[traded]
    is_sell = t_sell > 0
    why = np.zeros(len(traded), dtype=np.int8)
    # harvest: a sale that realizes a harvest-candidate loss, and buys in the same group
    sold_lots = p.sold_lots
    harvest_lot = sold_lots[p.candidate[sold_lots]] if inp.taxable else sold_lots[:0]
    if len(harvest_lot):
        harvest_lot = harvest_lot[p.tax_true[harvest_lot] < 0]
        harvest_sec = np.zeros(p.S, dtype=bool)
        harvest_sec[p.lot_sec[harvest_lot]] = True
        harvest_grp = np.bincount(p.gi, harvest_sec, p.G) > 0
        hv = np.where(is_sell, harvest_sec[traded], harvest_grp[p.gi[traded]])
        why[hv] = 2
    # cash: other sales that raise the cash requests (a shortfall against the model cash
    # weight alone is drift)
    need = float(inp.cash_needed)
    if need > 0:
        deficit = min(need, (p.creq - p.c0) * p.V)
        if p.any_must:
            deficit -= float(sell_sh[p.must_sec] @ price[p.must_sec])
        if deficit > 0:
            cand = (is_sell & (why == 0)).nonzero()[0]
            vals = t_sell[cand] * price[traded[cand]]
            order = (-vals).argsort()
            for j, v in zip(cand[order].tolist(), vals[order].tolist()):
                if deficit <= 0:
                    break
                why[j] = 1
                deficit -= v
    # band: trades that move a class from outside its band toward it
    if len(p.band_k):
        wb = Wk0[p.band_k]
        hi = wb > p.band_hi + 1e-9
        lo = wb < p.band_lo - 1e-9
        if _nnz(hi) or _nnz(lo):
            out_hi = np.zeros(p.K, dtype=bool)
            out_lo = np.zeros(p.K, dtype=bool)
            out_hi[p.band_k] = hi
            out_lo[p.band_k] = lo
            tc = p.ci[traded]
            why[np.where(is_sell, out_hi[tc], out_lo[tc])] = 3
    if p.any_must:
        why[is_sell & p.must_sec[traded]] = 4

    # lots per sold security, in naming order (highest unit cost first)
    lots_of = {}
    if len(sold_lots):
        ids = np.asarray(inp.lot_id)[sold_lots].tolist()
        if set(map(type, ids)) != _STR_ONLY:
            ids = [str(i) for i in ids]
        get = lots_of.get
        for s0, pair in zip(p.lot_sec[sold_lots].tolist(), zip(ids, lot_sh[sold_lots].tolist())):
            lst = get(s0)
            if lst is None:
                lots_of[s0] = [pair]
            else:
                lst.append(pair)
    out = []
    append = out.append
    new = _new_line
    syms = np.asarray(inp.symbols)[traded].tolist()
    if set(map(type, syms)) != _STR_ONLY:
        syms = [str(v) for v in syms]
    for s, sym, px, sh_s, sh_b, w in zip(traded.tolist(), syms, price[traded].tolist(),
                                         t_sell.tolist(), t_buy.tolist(), why.tolist()):
        if sh_s > 0:
            lots = lots_of.get(s)
            append(new((sym, "SELL", sh_s, px, sh_s * px, tuple(lots) if lots else (),
                        _WHY[w])))
        else:
            append(new((sym, "BUY", sh_b, px, sh_b * px, (), _WHY[w])))
    return out


_STR_ONLY = {str}
