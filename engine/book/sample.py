"""A realistic sample book folder (CONTRACT.md §1) for demos, tests and benchmarks.

``generate_sample(out_dir, accounts=N, seed=S)`` writes every book file plus
``manifest.json`` and returns a summary of what it wrote, including which accounts carry
which planted data-quality problem (``summary["planted"]``), so tests can check detection.

Pure numpy/pandas and fully vectorised: the per-account and per-lot work is done with
``np.repeat``/``cumsum``/``bincount`` tricks, so 100,000 accounts (several million lots)
take seconds. Deterministic: the same arguments give the same files byte for byte.

What is planted (each kind on its own, disjoint set of accounts, about 0.2-1% of the book
and at least one account each):

* ``UNKNOWN_SECURITY``: one extra lot (and custodian position) in a symbol that is not in
  securities.csv (``summary["planted_symbols"]["UNKNOWN_SECURITY"]``).
* ``MISSING_PRICE``: a holding of a rare security whose price is blank in securities.csv.
* ``STALE_PRICE``: a holding of a rare security whose price_date is 10 days before as_of.
* ``CORP_ACTION_PENDING``: a holding of a rare security with an unprocessed split whose
  effective date is on or before as_of.
* ``RECON_BREAK``: one custodian position differs from the sum of its lots.
* ``NEGATIVE_POSITION``: one lot has a negative quantity (the custodian position equals
  the lot sum, so this is not also a recon break).
* ``FEED_MISSING``: the accounts of the one small custodian whose feed ``failed``.

The rare securities are held by no other account, so the rest of the book is clean. A few
planted accounts also have a ``high`` priority cash request (``summary["urgent"]``).
"""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

DEFAULT_AS_OF = date(2026, 11, 20)

PROBLEM_KINDS = (
    "UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE", "RECON_BREAK",
    "CORP_ACTION_PENDING", "FEED_MISSING", "NEGATIVE_POSITION",
)
# share of accounts that get each planted problem (at least one account each)
PLANT_RATE = {
    "UNKNOWN_SECURITY": 0.003, "MISSING_PRICE": 0.003, "STALE_PRICE": 0.004,
    "RECON_BREAK": 0.008, "CORP_ACTION_PENDING": 0.003, "FEED_MISSING": 0.01,
    "NEGATIVE_POSITION": 0.002,
}
STALE_DAYS = 10

# size tiers (by total account value) the sample makes sure are all populated
TIERS = (("Small", 0.0, 250_000.0), ("Core", 250_000.0, 5_000_000.0),
         ("Premier", 5_000_000.0, 25_000_000.0), ("UHNW", 25_000_000.0, float("inf")))

FILES = (
    "securities.csv", "models.csv", "accounts.csv", "lots.csv", "custodian_positions.csv",
    "feeds.csv", "transactions.csv", "cash_requests.csv", "corporate_actions.csv",
    "manifest.json",
)
COLUMNS = {
    "securities.csv": ["symbol", "name", "asset_class", "price", "price_date", "tags",
                       "rating", "substitute_group"],
    "models.csv": ["model_id", "symbol", "weight"],
    "accounts.csv": ["account_id", "name", "model_id", "custodian", "cash", "taxable",
                     "st_rate", "lt_rate", "last_trade_date", "restrictions", "group"],
    "lots.csv": ["account_id", "lot_id", "symbol", "quantity", "unit_cost", "acquired_date"],
    "custodian_positions.csv": ["account_id", "symbol", "quantity"],
    "feeds.csv": ["custodian", "file_date", "status"],
    "transactions.csv": ["account_id", "symbol", "trade_date", "side", "quantity", "price",
                         "realized_gain"],
    "cash_requests.csv": ["request_id", "account_id", "amount", "due_date", "priority", "note"],
    "corporate_actions.csv": ["symbol", "effective_date", "kind", "ratio", "new_symbol",
                              "processed"],
}

# ----------------------------------------------------------------------------- universe

# code, asset_class name, expected annual return, annual volatility (used for cost basis)
ASSET_CLASSES = (
    ("USLC", "US Large Cap", 0.10, 0.18),
    ("USSC", "US Small Cap", 0.08, 0.24),
    ("INTL", "Intl Developed", 0.06, 0.17),
    ("EM", "Emerging Markets", 0.04, 0.22),
    ("USBD", "US Bonds", 0.01, 0.06),
    ("MUNI", "Munis", 0.01, 0.05),
    ("TIPS", "TIPS", 0.015, 0.06),
    ("HY", "High Yield", 0.03, 0.09),
    ("REIT", "REITs", 0.04, 0.20),
    ("CMDTY", "Commodities", 0.05, 0.18),
)
AC_INDEX = {code: i for i, (code, *_rest) in enumerate(ASSET_CLASSES)}

# fund themes per asset class: (theme, number of funds); >1 fund = one substitute group
FUND_THEMES = {
    "USLC": (("S&P 500 Index", 3), ("US Large Cap Growth", 2), ("US Large Cap Value", 2),
             ("US Dividend Equity", 2), ("US Quality Factor", 1)),
    "USSC": (("US Small Cap Index", 2), ("US Small Cap Value", 2), ("US Mid Cap", 1),
             ("US Small Cap Growth", 1)),
    "INTL": (("Developed Markets Index", 3), ("International Dividend", 2),
             ("EAFE Value", 1), ("Europe Equity", 1), ("Japan Equity", 1)),
    "EM": (("Emerging Markets Index", 2), ("Emerging Markets Value", 1), ("China Equity", 1),
           ("India Equity", 1), ("Latin America Equity", 1)),
    "USBD": (("Aggregate Bond", 3), ("Short-Term Treasury", 2),
             ("Intermediate Corporate Bond", 2), ("Long-Term Treasury", 1),
             ("Mortgage-Backed Securities", 1)),
    "MUNI": (("National Municipal Bond", 2), ("Short-Term Municipal", 2),
             ("California Municipal", 1), ("New York Municipal", 1)),
    "TIPS": (("TIPS Bond", 2), ("Short-Term TIPS", 1)),
    "HY": (("High Yield Corporate Bond", 2), ("Fallen Angels High Yield", 1),
           ("Senior Loan", 1)),
    "REIT": (("US Real Estate", 2), ("Global REIT", 1)),
    "CMDTY": (("Gold Trust", 2), ("Broad Commodity", 1), ("Agriculture Commodity", 1),
              ("Crude Oil", 1)),
}
FUND_FAMILIES = ("Beacon", "Keystone", "Meridian", "Sterling", "Harbor", "Summit", "Granite",
                 "Northstar")
STOCK_WORDS = (
    "Atlas", "Bluewater", "Cedar", "Copperline", "Crescent", "Driftwood", "Evergreen",
    "Falcon", "Frontier", "Goldcrest", "Highland", "Ironwood", "Juniper", "Kestrel",
    "Lakeshore", "Lighthouse", "Maplewood", "Oakmont", "Orion", "Paragon", "Pinecrest",
    "Pioneer", "Quantum", "Redstone", "Redwood", "Riverbend", "Sequoia", "Silverline",
    "Stonebridge", "Tidewater", "Trident", "Vantage", "Westfield", "Windmere", "Zenith",
    "Aurora", "Bayview", "Cobalt", "Delta", "Eastgate", "Fairhaven", "Glacier", "Horizon",
    "Ivory", "Jasper", "Lumen", "Mariner", "Nova", "Onyx", "Prairie", "Ridgeline", "Solstice",
    "Titan", "Upland", "Vertex", "Willow", "Yarrow",
)
STOCK_SUFFIX = ("Inc", "Corp", "Co", "Holdings", "Group", "Inc", "Corp")
GENERAL_INDUSTRIES = (
    "Technologies", "Software", "Pharmaceuticals", "Health", "Financial", "Motors", "Foods",
    "Airlines", "Materials", "Communications", "Insurance", "Logistics", "Media",
    "Biosciences", "Utilities", "Retail", "Networks", "Industries", "Devices", "Chemicals",
)
TAGS = ("tobacco", "energy", "firearms", "gambling", "alcohol")
TAG_BIT = {t: 1 << i for i, t in enumerate(TAGS)}
# large-cap stocks with screen tags: (industry word, tags)
TAGGED_STOCKS = (
    ("Tobacco", "tobacco"), ("Tobacco Brands", "tobacco"),
    ("Energy", "energy"), ("Petroleum", "energy"), ("Oil & Gas", "energy"),
    ("Pipeline Partners", "energy"),
    ("Firearms", "firearms"), ("Gaming", "gambling"), ("Resorts & Casinos", "gambling;alcohol"),
    ("Brewing", "alcohol"),
)
# industries that get a substitute pair among large-cap stocks
PAIR_INDUSTRIES = ("Bancorp", "Semiconductor", "Pharmaceuticals")

# ----------------------------------------------------------------------------- models

MODELS = (  # model_id, asset-class weights (before cash), popularity
    ("BALANCED", {"USLC": .32, "USSC": .06, "INTL": .12, "EM": .04, "USBD": .30, "TIPS": .05,
                  "HY": .05, "REIT": .06}, .25),
    ("GROWTH", {"USLC": .46, "USSC": .12, "INTL": .18, "EM": .08, "REIT": .06, "USBD": .10},
     .22),
    ("CONSERVATIVE", {"USLC": .18, "INTL": .07, "USBD": .50, "TIPS": .12, "MUNI": .08,
                      "HY": .05}, .12),
    ("INCOME", {"USLC": .20, "INTL": .07, "USBD": .38, "HY": .12, "TIPS": .10, "REIT": .08,
                "EM": .05}, .12),
    ("EQUITY_INCOME", {"USLC": .58, "INTL": .15, "REIT": .15, "HY": .07, "USSC": .05}, .10),
    ("GLOBAL_TACTICAL", {"USLC": .25, "INTL": .20, "EM": .12, "USBD": .15, "CMDTY": .10,
                         "REIT": .06, "TIPS": .07, "HY": .05}, .10),
    ("MUNI_INCOME", {"MUNI": .55, "USLC": .25, "INTL": .10, "USBD": .10}, .09),
)
# models that must hold the screened stocks (so restrictions have something to sell)
MODEL_FORCED_TAGS = {
    "GROWTH": ("tobacco", "energy", "gambling"), "BALANCED": ("tobacco", "energy", "firearms"),
    "EQUITY_INCOME": ("tobacco", "energy", "alcohol"), "INCOME": ("energy",),
    "GLOBAL_TACTICAL": ("energy",), "CONSERVATIVE": ("tobacco",), "MUNI_INCOME": ("alcohol",),
}

# ----------------------------------------------------------------------------- accounts

CUSTODIANS = ("SCHWAB", "FIDELITY", "PERSHING", "BNY")
CUSTODIAN_SHARE = (0.40, 0.30, 0.18, 0.12)
SMALL_CUSTODIAN = "HILLCREST"  # the small custodian whose feed failed (FEED_MISSING)
TAX_BRACKETS = ((0.37, 0.20), (0.35, 0.20), (0.32, 0.15), (0.24, 0.15), (0.22, 0.15))
TAX_BRACKET_P = (0.35, 0.15, 0.2, 0.2, 0.1)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward",
    "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza",
    "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long",
    "Ross", "Foster", "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell",
    "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons",
    "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin",
    "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis",
    "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens",
    "Harrison", "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas",
    "Henry", "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson",
    "Simpson", "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason",
    "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson",
    "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt",
    "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner",
    "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce", "Hansen",
    "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott", "Cunningham", "Duncan",
    "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Ray", "Berry", "Perkins",
    "Hoffman", "Johnston", "Matthews", "Pena", "Richards", "Willis", "Carpenter", "Lawrence",
    "Sandoval", "Okafor", "Nakamura", "Rossi", "Novak", "Larsen", "Kowalski", "Haddad",
)
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul",
    "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie",
    "Edward", "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob",
    "Kathleen", "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna",
    "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon",
    "Helen", "Priya", "Wei", "Omar", "Sofia", "Hiroshi", "Aisha", "Lucas", "Elena",
)
TAXABLE_FORMS = ((" Family Trust", 0.25), (" Revocable Trust", 0.15), ("JOINT", 0.25),
                 ("INDIV", 0.2), (" TOD", 0.05), (" Family LP", 0.05), (" Family Office", 0.05))
EXEMPT_FORMS = ((" IRA", 0.35), (" Rollover IRA", 0.2), (" Roth IRA", 0.2),
                (" Family Foundation", 0.12), (" Charitable Trust", 0.08), (" 401(k) Plan", 0.05))
RESTRICTION_KINDS = (  # (tag bits, has sym restriction, share of restricted accounts)
    (TAG_BIT["tobacco"], False, 0.40),
    (TAG_BIT["tobacco"] | TAG_BIT["firearms"], False, 0.12),
    (TAG_BIT["gambling"] | TAG_BIT["alcohol"], False, 0.06),
    (TAG_BIT["energy"], False, 0.10),
    (0, True, 0.22),
    (TAG_BIT["tobacco"], True, 0.10),
)
CASH_NOTES = (
    "Client wire for home purchase", "Quarterly distribution", "Tuition payment",
    "Estimated tax payment", "Charitable gift", "Partial transfer to another firm",
    "Required minimum distribution", "Business capital call", "Monthly income draw",
    "Client request by phone",
)
CASH_NOTES_URGENT = (
    "URGENT: wire for closing tomorrow", "Client wire for home purchase",
    "Estimated tax payment due", "Capital call due this week",
)

# lots per holding: 1..8
LOTS_P = np.array([0.32, 0.24, 0.16, 0.10, 0.07, 0.05, 0.03, 0.03])
MAX_HISTORY_DAYS = 6 * 365


def _tiers_of(values: np.ndarray) -> np.ndarray:
    edges = np.array([t[1] for t in TIERS[1:]])
    return np.searchsorted(edges, values, side="right")


# ============================================================================ helpers


def _ticker(words: list[str], used: set[str], rng: np.random.Generator,
            stock: bool = False) -> str:
    """A unique 2-5 letter upper-case ticker that looks like it came from the name."""
    skip = {"ETF", "FUND", "TRUST", "INC", "CORP", "CO", "&", "OF", "GROUP", "HOLDINGS"}
    clean = [re.sub("[^A-Z]", "", w.upper()) for w in words]
    clean = [w for w in clean if w and w not in skip]
    first = clean[0]
    initials = "".join(w[0] for w in clean)
    rest = "".join(w[0] for w in clean[1:])
    if stock:
        pats = [first[:3], first[:4], first[:2] + rest[:1], first[:3] + rest[:1],
                first[:1] + rest[:2] + first[-1:]]
        start = int(rng.integers(len(pats)))
        cands = pats[start:] + pats[:start]
    else:
        cands = [initials[:4] if len(initials) >= 3 else first[:1] + initials[1:] + "X",
                 first[:1] + initials[1:4], first[:2] + initials[1:3], first[:3] + rest[:1]]
    for c in cands:
        if 2 <= len(c) <= 5 and c not in used and c != "CASH":
            used.add(c)
            return c
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while True:
        n = int(rng.integers(2, 4))
        c = first[:1] + "".join(rng.choice(letters, n))
        if c not in used and c != "CASH":
            used.add(c)
            return c


def _fmt_dates(as_of: date, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """ISO strings for every day offset in [lo, hi] from as_of; returns (strings, lo)."""
    base = np.datetime64(as_of.isoformat(), "D")
    days = base + np.arange(lo, hi + 1)
    return np.datetime_as_string(days, unit="D").astype(object), lo


def _seg_start(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _pick_within(rng, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One random index in [start, start+count) per segment (count >= 1)."""
    return starts + np.minimum((rng.random(len(starts)) * counts).astype(np.int64), counts - 1)


# ----------------------------------------------------------------------------- csv writer
#
# pandas.to_csv formats ~1 value per microsecond; lots.csv at 100,000 accounts has ~30M
# values. This writer renders each column into a zero-padded uint8 matrix with numpy
# arithmetic, joins the columns with commas, drops the padding bytes and writes the rest:
# about ten times faster, byte-for-byte deterministic. Columns are:
#   Cat(codes, categories)  strings through a small table (code -1 = blank)
#   Int(values)             whole numbers (negative allowed)
#   Fixed(values, d)        d decimals, NaN = blank


class Cat:
    def __init__(self, codes, categories):
        self.codes = np.asarray(codes, dtype=np.int64)
        cats = [_csv_field(str(c)) for c in categories]
        enc = [c.encode("utf-8") for c in cats]
        self.width = max([1] + [len(e) for e in enc])
        table = np.zeros((len(enc) + 1, self.width), dtype=np.uint8)  # last row = blank
        for i, e in enumerate(enc):
            table[i, :len(e)] = np.frombuffer(e, dtype=np.uint8)
        self.table = table

    def __len__(self):
        return len(self.codes)

    def render(self, lo, hi):
        c = self.codes[lo:hi]
        return self.table[np.where(c < 0, len(self.table) - 1, c)]


def Strs(values) -> Cat:
    """A column of arbitrary strings (None/NaN = blank), through a table of its distinct values."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)), sort=False)
    return Cat(codes, list(uniques))


class Int:
    def __init__(self, values):
        self.v = np.asarray(values, dtype=np.int64)
        a = np.abs(self.v)
        self.nd = len(str(int(a.max()))) if len(a) else 1
        self.width = self.nd + 1

    def __len__(self):
        return len(self.v)

    def render(self, lo, hi):
        v = self.v[lo:hi]
        return _digits(np.abs(v), v < 0, self.nd)


class Fixed:
    def __init__(self, values, decimals):
        x = np.asarray(values, dtype=np.float64)
        self.blank = np.isnan(x)
        self.d = int(decimals)
        scaled = np.rint(np.abs(np.where(self.blank, 0.0, x)) * 10.0 ** self.d).astype(np.int64)
        self.neg = (x < 0) & (scaled > 0)
        self.ip, self.fp = np.divmod(scaled, 10 ** self.d)
        self.nd = len(str(int(self.ip.max()))) if len(x) else 1
        self.width = self.nd + 2 + self.d

    def __len__(self):
        return len(self.ip)

    def render(self, lo, hi):
        out = np.empty((hi - lo, self.width), dtype=np.uint8)
        out[:, :self.nd + 1] = _digits(self.ip[lo:hi], self.neg[lo:hi], self.nd)
        out[:, self.nd + 1] = ord(".")
        fp = self.fp[lo:hi]
        for j in range(self.d):
            out[:, self.nd + 2 + j] = 48 + (fp // 10 ** (self.d - 1 - j)) % 10
        out[self.blank[lo:hi]] = 0
        return out


def _digits(a: np.ndarray, neg: np.ndarray, nd: int) -> np.ndarray:
    """(n, nd+1) uint8: '-' where neg, then the digits of a >= 0, leading zeros as padding."""
    out = np.zeros((len(a), nd + 1), dtype=np.uint8)
    out[:, 0] = np.where(neg, ord("-"), 0)
    for j in range(nd):
        p = 10 ** (nd - 1 - j)
        d = (48 + (a // p) % 10).astype(np.uint8)
        out[:, 1 + j] = d if j == nd - 1 else np.where(a >= p, d, 0)
    return out


def _csv_field(s: str) -> str:
    if "\0" in s:
        raise ValueError("NUL in CSV field")
    if any(ch in s for ch in ',"\n\r'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _write_table(path: Path, columns: dict, chunk: int = 500_000) -> None:
    """Write a CSV (header + rows, '\\n' line ends) from Cat/Int/Fixed column renderers."""
    cols = list(columns.values())
    n = len(cols[0]) if cols else 0
    if any(len(c) != n for c in cols):
        raise ValueError(f"{path.name}: columns of different lengths")
    widths = [c.width for c in cols]
    total = sum(widths) + len(cols)  # a comma after each column, the last one is '\n'
    with open(path, "wb") as f:
        f.write((",".join(columns) + "\n").encode("utf-8"))
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            buf = np.empty((hi - lo, total), dtype=np.uint8)
            pos = 0
            for c, w in zip(cols, widths):
                buf[:, pos:pos + w] = c.render(lo, hi)
                buf[:, pos + w] = ord(",")
                pos += w + 1
            buf[:, -1] = ord("\n")
            flat = buf.ravel()
            f.write(flat[flat != 0].tobytes())


# ============================================================================ builders


def _build_universe(rng: np.random.Generator, as_of: date) -> pd.DataFrame:
    """The security master, plus internal columns (leading underscore)."""
    used: set[str] = set()
    rows: list[dict] = []
    sg_counter = {code: 0 for code in AC_INDEX}

    def add(name, code, *, tags="", group="", kind="fund", rare="", master=True, pool=True):
        sym = _ticker(name.split(), used, rng, stock=(kind == "stock"))
        rows.append(dict(symbol=sym, name=name, _ac=AC_INDEX[code], tags=tags,
                         substitute_group=group, _kind=kind, _rare=rare, _master=master,
                         _pool=pool))
        return sym

    def new_group(code):
        sg_counter[code] += 1
        return f"SG_{code}_{sg_counter[code]}"

    # funds
    for code, themes in FUND_THEMES.items():
        for theme, n in themes:
            fams = rng.choice(len(FUND_FAMILIES), size=n, replace=False)
            group = new_group(code) if n > 1 else ""
            for f in fams:
                tags = "energy" if theme == "Crude Oil" else ""
                add(f"{FUND_FAMILIES[f]} {theme} ETF", code, tags=tags, group=group)

    # stocks: names from a shuffled word list so names and tickers stay distinct
    words = list(np.array(STOCK_WORDS, dtype=object)[rng.permutation(len(STOCK_WORDS))])

    def stock_name(industry):
        w = words.pop()
        return f"{w} {industry} {STOCK_SUFFIX[int(rng.integers(len(STOCK_SUFFIX)))]}"

    for industry, tags in TAGGED_STOCKS:
        add(stock_name(industry), "USLC", tags=tags, kind="stock")
    for industry in PAIR_INDUSTRIES:
        group = new_group("USLC")
        for _ in range(2):
            add(stock_name(industry), "USLC", group=group, kind="stock")
    n_general = int(rng.integers(12, 19))
    inds = rng.choice(len(GENERAL_INDUSTRIES), size=n_general, replace=False)
    for i in inds:
        add(stock_name(GENERAL_INDUSTRIES[i]), "USLC", kind="stock")
    for i in rng.choice(len(GENERAL_INDUSTRIES), size=4, replace=False):
        add(stock_name(GENERAL_INDUSTRIES[i]), "USSC", kind="stock")
    for ind in ("Realty", "Properties"):
        add(stock_name(ind), "REIT", kind="stock")
    # spin-off of a processed corporate action: in the master, may be held as legacy
    add(stock_name("Spinco"), "USLC", kind="stock", rare="SPINOFF_CHILD", pool=False)
    # rare securities carrying planted problems: in the master but in no model
    add(stock_name("Biotech"), "USSC", kind="stock", rare="MISSING_PRICE", pool=False)
    add(stock_name("Minerals"), "USSC", kind="stock", rare="STALE_PRICE", pool=False)
    add(stock_name("Robotics"), "USSC", kind="stock", rare="CORP_ACTION_PENDING", pool=False)
    # an unknown security (not written to securities.csv) and a merged-away symbol
    add(stock_name("Acquisition"), "USSC", kind="stock", rare="UNKNOWN_SECURITY",
        master=False, pool=False)
    add(stock_name("Merged"), "USLC", kind="stock", rare="MERGED_AWAY", master=False,
        pool=False)

    sec = pd.DataFrame(rows)
    n = len(sec)
    is_stock = (sec["_kind"] == "stock").to_numpy()
    # prices: log-uniform 10..500 (funds a bit narrower)
    lo, hi = np.where(is_stock, np.log(10.0), np.log(20.0)), np.where(is_stock, np.log(500.0),
                                                                        np.log(350.0))
    sec["_price"] = np.round(np.exp(rng.uniform(lo, hi)), 2)
    ac = sec["_ac"].to_numpy()
    mu = np.array([a[2] for a in ASSET_CLASSES])[ac]
    vol = np.array([a[3] for a in ASSET_CLASSES])[ac] * np.where(is_stock, 1.5, 1.0)
    sec["_mu"] = mu + rng.normal(0, 0.03, n)
    sec["_vol"] = vol * rng.uniform(0.8, 1.2, n)
    # a few securities crashed recently: their recent lots sit on deep short-term losses
    equity_like = np.array([a[3] for a in ASSET_CLASSES])[ac] >= 0.15
    crash = ((rng.random(n) < np.where(is_stock, 0.25, np.where(equity_like, 0.08, 0.0)))
             * rng.uniform(0.15, 0.40, n))
    sec["_crash"] = crash
    r = np.where(is_stock, rng.integers(1, 11, n), rng.integers(1, 8, n))
    sec["rating"] = r.astype(np.int64)
    sec["_tagmask"] = [sum(TAG_BIT[x] for x in str(t).split(";") if x) for t in sec["tags"]]
    sec["asset_class"] = [ASSET_CLASSES[i][1] for i in ac]
    return sec


def _price_history(rng: np.random.Generator, sec: pd.DataFrame) -> np.ndarray:
    """Log price of every security ``d`` days before as_of, shape (n_sec, MAX_HISTORY_DAYS+1).

    A random walk backwards from today's price with the asset class's drift and volatility;
    securities with a ``_crash`` fell that much over the last ~3 months, so their recent lots
    carry deep short-term losses.
    """
    n = len(sec)
    d = MAX_HISTORY_DAYS + 1
    mu = sec["_mu"].to_numpy()[:, None] / 365.25
    vol = sec["_vol"].to_numpy()[:, None] / np.sqrt(365.25)
    steps = mu + vol * rng.normal(0, 1, (n, d - 1))
    logp = np.empty((n, d))
    logp[:, 0] = np.log(sec["_price"].to_numpy())
    logp[:, 1:] = logp[:, :1] - np.cumsum(steps, axis=1)
    ramp = np.clip((np.arange(d) - 10) / 80.0, 0.0, 1.0)[None, :]
    logp += np.log1p(sec["_crash"].to_numpy())[:, None] * ramp
    return logp


def _build_models(rng: np.random.Generator, sec: pd.DataFrame) -> pd.DataFrame:
    """models.csv rows (CASH last per model), with internal security index `_sec`."""
    out = []
    pool = sec["_pool"].to_numpy()
    ac = sec["_ac"].to_numpy()
    groups = sec["substitute_group"].to_numpy()
    tagsets = [set(t.split(";")) - {""} for t in sec["tags"]]
    for model_id, alloc, _pop in MODELS:
        cash_w = float(rng.choice([0.01, 0.015, 0.02, 0.025, 0.03]))
        total = int(rng.integers(14, 27))
        chosen: list[int] = []
        cls_w: list[float] = []
        forced_tags = MODEL_FORCED_TAGS.get(model_id, ())
        for code, w in alloc.items():
            cands = np.flatnonzero(pool & (ac == AC_INDEX[code]))
            cands = cands[rng.permutation(len(cands))]
            k = max(1, int(round(w * total)))
            picked: list[int] = []
            seen_groups: set[str] = set()
            if code == "USLC":  # screened stocks first, so restrictions have a bite
                for t in forced_tags:
                    for i in cands:
                        if t in tagsets[i] and int(i) not in picked:
                            picked.append(int(i))
                            break
            for i in cands:
                if len(picked) >= k:
                    break
                if int(i) in picked or (groups[i] and groups[i] in seen_groups):
                    continue
                picked.append(int(i))
                if groups[i]:
                    seen_groups.add(groups[i])
            chosen += picked
            # split the class weight among its picks
            cls_w += list(rng.dirichlet(np.full(len(picked), 4.0)) * w)
        wts = np.array(cls_w)
        wts = wts / wts.sum() * (1.0 - cash_w)
        wts = np.round(wts, 6)
        # the model cash is exact; the largest position absorbs the rounding
        big = int(np.argmax(wts))
        wts[big] = round(1.0 - cash_w - (float(wts.sum()) - float(wts[big])), 6)
        cash = cash_w
        for i, w in zip(chosen, wts):
            out.append((model_id, int(i), float(w)))
        out.append((model_id, -1, cash))
    m = pd.DataFrame(out, columns=["model_id", "_sec", "weight"])
    syms = sec["symbol"].to_numpy()
    m["symbol"] = np.where(m["_sec"] >= 0, syms[np.maximum(m["_sec"], 0)], "CASH")
    return m


# ============================================================================ main


def generate_sample(out_dir: str | Path, accounts: int = 2000, seed: int = 1,
                    as_of: date | None = None,
                    progress: Callable[[float, str], None] | None = None) -> dict:
    """Write a realistic book folder (all CONTRACT.md §1 files + manifest.json) into out_dir.

    Returns a summary dict: counts (accounts, securities, models, lots, positions, ...),
    accounts per size tier, and ``planted``: {problem kind: [account ids]}.
    """
    n_acc = int(accounts)
    if n_acc < 1:
        raise ValueError("accounts must be at least 1")
    if n_acc > 999_999:
        raise ValueError("accounts must be at most 999,999")
    as_of = as_of or DEFAULT_AS_OF
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def step(frac: float, msg: str) -> None:
        if progress is not None:
            progress(float(frac), msg)

    step(0.0, "Building securities and models")
    sec = _build_universe(rng, as_of)
    n_sec = len(sec)
    price = sec["_price"].to_numpy()
    sec_ac = sec["_ac"].to_numpy()
    sec_tag = sec["_tagmask"].to_numpy().astype(np.int64)
    sec_pool = sec["_pool"].to_numpy()
    sec_kind = sec["_kind"].to_numpy()
    rare = sec["_rare"].to_numpy()
    rare_idx = {k: int(np.flatnonzero(rare == k)[0]) for k in
                ("MISSING_PRICE", "STALE_PRICE", "CORP_ACTION_PENDING", "UNKNOWN_SECURITY",
                 "SPINOFF_CHILD", "MERGED_AWAY")}
    models = _build_models(rng, sec)
    hist = _price_history(rng, sec)
    model_ids = [m[0] for m in MODELS]
    mrows = models[models["_sec"] >= 0].reset_index(drop=True)
    m_code = pd.Categorical(mrows["model_id"], categories=model_ids).codes.astype(np.int64)
    model_len = np.bincount(m_code, minlength=len(model_ids))
    model_start = _seg_start(model_len)
    model_sec = mrows["_sec"].to_numpy().astype(np.int64)
    model_w = mrows["weight"].to_numpy()
    model_cash = models[models["_sec"] < 0].set_index("model_id")["weight"].reindex(
        model_ids).to_numpy()

    # substitute alternatives per security (groups have at most 3 members)
    groups = sec["substitute_group"].to_numpy()
    alt = np.full((n_sec, 2), -1, dtype=np.int64)
    alt_n = np.zeros(n_sec, dtype=np.int64)
    for g in sorted(set(groups) - {""}):
        members = np.flatnonzero(groups == g)
        for i in members:
            others = [int(j) for j in members if j != i and sec_pool[j]]
            alt[i, :len(others)] = others[:2]
            alt_n[i] = min(len(others), 2)

    # ------------------------------------------------------------------ accounts
    step(0.05, "Generating accounts")
    N = n_acc
    perm = rng.permutation(N)
    planted_idx: dict[str, np.ndarray] = {}
    pos = 0
    for kind in PROBLEM_KINDS:
        k = max(1, int(round(PLANT_RATE[kind] * N)))
        planted_idx[kind] = np.sort(perm[np.arange(pos, pos + k) % N])
        pos += k

    taxable = rng.random(N) < 0.70
    pop = np.array([m[2] for m in MODELS])
    acct_model = rng.choice(len(MODELS), size=N, p=pop / pop.sum())
    muni = model_ids.index("MUNI_INCOME")
    acct_model = np.where((acct_model == muni) & ~taxable, model_ids.index("INCOME"),
                          acct_model)

    # account value: log-normal body, with every size tier forced to be populated
    value = np.exp(rng.normal(np.log(650_000.0), 1.25, N))
    value = np.clip(value, 50_000.0, 60_000_000.0)
    perm2 = rng.permutation(N)
    n_u, n_p, n_s = (max(2, int(round(r * N))) for r in (0.012, 0.04, 0.03))
    n_c = max(2, int(round(0.03 * N)))
    seg = np.cumsum([0, n_u, n_p, n_s, n_c])
    bands = ((27e6, 60e6), (6e6, 22e6), (50e3, 220e3), (300e3, 4.5e6))
    for (a, b), s0, s1 in zip(bands, seg[:-1], seg[1:]):
        idx = perm2[s0:min(s1, N)]
        value[idx] = np.exp(rng.uniform(np.log(a), np.log(b), len(idx)))

    # cash: around the model's cash weight; some new money, some over-invested
    cash_frac = model_cash[acct_model] * np.exp(rng.normal(0, 0.4, N))
    u = rng.random(N)
    cash_frac = np.where(u < 0.04, rng.uniform(0.08, 0.35, N), cash_frac)
    cash_frac = np.where(u > 0.97, rng.uniform(0.0, 0.003, N), cash_frac)
    cash = np.round(value * cash_frac, 2)

    # days since last trade (0..400), some never traded; drift grows with it
    days_since = rng.integers(0, 401, N)
    never = rng.random(N) < 0.06
    mix = rng.choice(3, size=N, p=[0.5, 0.35, 0.15])
    drift_scale = np.array([0.008, 0.03, 0.12])[mix] * (0.4 + days_since / 400.0)
    drift_scale = np.where(never, drift_scale * 1.5, drift_scale)

    # restrictions (~10%): half of them still hold what they restrict (mandate to sell)
    n_restr = max(1, int(round(0.10 * N)))
    restricted = rng.choice(N, size=n_restr, replace=False)
    rk_p = np.array([r[2] for r in RESTRICTION_KINDS])
    rkind = rng.choice(len(RESTRICTION_KINDS), size=n_restr, p=rk_p / rk_p.sum())
    rkind[0] = 4  # at least one sym: restriction that is held
    acct_tagmask = np.zeros(N, dtype=np.int64)
    acct_symres = np.full(N, -1, dtype=np.int64)
    acct_clean = np.zeros(N, dtype=bool)
    acct_tagmask[restricted] = np.array([r[0] for r in RESTRICTION_KINDS])[rkind]
    has_sym = np.array([r[1] for r in RESTRICTION_KINDS])[rkind]
    rm = acct_model[restricted]
    row_pick = _pick_within(rng, model_start[rm], model_len[rm])
    acct_symres[restricted[has_sym]] = model_sec[row_pick[has_sym]]
    clean = rng.random(n_restr) < 0.5
    clean[0] = False
    acct_clean[restricted] = clean

    # the failed small custodian holds exactly the FEED_MISSING accounts
    cust = rng.choice(len(CUSTODIANS), size=N, p=CUSTODIAN_SHARE)
    cust[planted_idx["FEED_MISSING"]] = len(CUSTODIANS)

    # ------------------------------------------------------------------ holdings
    step(0.15, "Generating holdings")
    cnt = model_len[acct_model]
    h_acct = np.repeat(np.arange(N, dtype=np.int64), cnt)
    within = np.arange(len(h_acct)) - np.repeat(_seg_start(cnt), cnt)
    row = np.repeat(model_start[acct_model], cnt) + within
    h_sec = model_sec[row]
    h_w = model_w[row]
    del within, row
    h_restr = ((acct_tagmask[h_acct] & sec_tag[h_sec]) != 0) | (acct_symres[h_acct] == h_sec)
    # some model positions not held, some held through a substitute
    keep = (rng.random(len(h_acct)) >= 0.025) | h_restr
    keep &= ~(h_restr & acct_clean[h_acct])
    sub_p = np.where(taxable, 0.08, 0.02)[h_acct]
    sub = (rng.random(len(h_acct)) < sub_p) & (alt_n[h_sec] > 0) & ~h_restr
    j = np.minimum((rng.random(len(h_acct)) * np.maximum(alt_n[h_sec], 1)).astype(np.int64), 1)
    j = np.minimum(j, np.maximum(alt_n[h_sec] - 1, 0))
    h_sec = np.where(sub, alt[h_sec, j], h_sec)
    h_acct, h_sec, h_w = h_acct[keep], h_sec[keep], h_w[keep]

    # legacy positions outside the model (6% of accounts, 1-2 each)
    extra_pool = np.flatnonzero(sec_pool | (rare == "SPINOFF_CHILD"))
    n_extra = np.where(rng.random(N) < 0.06, rng.integers(1, 3, N), 0)
    e_acct = np.repeat(np.arange(N, dtype=np.int64), n_extra)
    e_sec = extra_pool[rng.integers(0, len(extra_pool), len(e_acct))]
    e_ok = ~(((acct_tagmask[e_acct] & sec_tag[e_sec]) != 0) | (acct_symres[e_acct] == e_sec))
    e_acct, e_sec = e_acct[e_ok], e_sec[e_ok]
    e_w = rng.uniform(0.005, 0.03, len(e_acct))

    # planted rare holdings
    p_acct, p_sec = [], []
    for kind in ("UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE", "CORP_ACTION_PENDING"):
        p_acct.append(planted_idx[kind])
        p_sec.append(np.full(len(planted_idx[kind]), rare_idx[kind], dtype=np.int64))
    p_acct = np.concatenate(p_acct).astype(np.int64)
    p_sec = np.concatenate(p_sec)
    p_w = rng.uniform(0.01, 0.04, len(p_acct))

    all_acct = np.concatenate([h_acct, e_acct, p_acct])
    all_sec = np.concatenate([h_sec, e_sec, p_sec])
    all_w = np.concatenate([h_w, e_w, p_w])
    key = all_acct * n_sec + all_sec
    _, first = np.unique(key, return_index=True)  # sorted by (account, security), deduped
    h_acct, h_sec, h_w = all_acct[first], all_sec[first], all_w[first]
    del all_acct, all_sec, all_w, key, first
    H = len(h_acct)

    # drift: per-holding noise plus per-account asset-class shocks, then normalise
    shock = rng.normal(0, 1, (N, len(ASSET_CLASSES))) * 0.4
    z = rng.normal(0, 1, H)
    ds = drift_scale[h_acct]
    raw = h_w * np.exp(ds * (z + shock[h_acct, sec_ac[h_sec]]))
    raw_sum = np.bincount(h_acct, weights=raw, minlength=N)
    invested = value * (1.0 - np.minimum(cash_frac, 0.9))
    h_val = raw / raw_sum[h_acct] * invested[h_acct]
    h_qty = np.maximum(1, np.rint(h_val / price[h_sec])).astype(np.int64)
    del raw, z, ds, shock, h_val
    h_count = np.bincount(h_acct, minlength=N)
    h_start = _seg_start(h_count)

    # ------------------------------------------------------------------ lots
    step(0.35, "Generating tax lots")
    k = rng.choice(len(LOTS_P), size=H, p=LOTS_P) + 1
    k = np.minimum(k, h_qty)
    L = int(k.sum())
    lot_h = np.repeat(np.arange(H, dtype=np.int64), k)
    lot_start_h = _seg_start(k)
    # split h_qty into k positive integer parts
    uu = rng.random(L) + 0.05
    usum = np.bincount(lot_h, weights=uu, minlength=H)
    spare = (h_qty - k)
    base = np.floor(spare[lot_h] * uu / usum[lot_h]).astype(np.int64)
    rem = spare - np.bincount(lot_h, weights=base, minlength=H).astype(np.int64)
    base[lot_start_h] += rem
    lot_q = base + 1
    del uu, usum, base, rem, spare
    # acquisition days ago: uniform over ~6 years plus a recent-heavy share; oldest first
    days = np.where(rng.random(L) < 0.7, rng.integers(1, MAX_HISTORY_DAYS + 1, L),
                    np.minimum(1 + rng.exponential(180.0, L).astype(np.int64), MAX_HISTORY_DAYS))
    skey = np.sort(lot_h * 4096 + (4095 - days))
    days = 4095 - (skey & 4095)
    del skey
    lot_sec = h_sec[lot_h]
    # cost basis from the security's price history, plus a little intraday noise
    cost = np.exp(hist[lot_sec, days] + rng.normal(0, 0.01, L))
    unit_cost = np.round(np.maximum(cost, 0.01), 4)
    del cost

    lot_acct = h_acct[lot_h]
    lots_per_acct = np.bincount(lot_acct, minlength=N)
    lot_acct_start = _seg_start(lots_per_acct)
    lot_no = np.arange(L, dtype=np.int64) - lot_acct_start[lot_acct]

    # NEGATIVE_POSITION: one lot of the account goes negative
    neg_a = planted_idx["NEGATIVE_POSITION"]
    neg_lot = _pick_within(rng, lot_acct_start[neg_a], lots_per_acct[neg_a])
    lot_q[neg_lot] = -np.maximum(lot_q[neg_lot], 1)

    # ------------------------------------------------------------------ custodian
    step(0.5, "Reconciling custodian positions")
    c_qty = np.bincount(lot_h, weights=lot_q, minlength=H).astype(np.int64)
    lot_sum = c_qty.copy()
    rb_a = planted_idx["RECON_BREAK"]
    rb_h = _pick_within(rng, h_start[rb_a], h_count[rb_a])
    delta = np.maximum(1, (np.abs(c_qty[rb_h]) * rng.uniform(0.02, 0.25, len(rb_h))).astype(
        np.int64))
    sign = np.where(rng.random(len(rb_h)) < 0.5, -1, 1)
    newq = c_qty[rb_h] + sign * delta
    newq = np.where(newq < 0, c_qty[rb_h] + delta, newq)
    c_qty[rb_h] = newq

    # ------------------------------------------------------------------ dates & flags
    last_off = -days_since.astype(np.int64)

    # transactions: last 60 days for ~3% of accounts (wash-sale material)
    step(0.55, "Generating transactions and cash requests")
    n_tx_acc = max(1, int(round(0.03 * N)))
    tx_accounts = np.sort(rng.choice(N, size=n_tx_acc, replace=False))
    tx_accounts = tx_accounts[h_count[tx_accounts] > 0]
    n_tx = rng.integers(1, 6, len(tx_accounts))
    t_acct = np.repeat(tx_accounts, n_tx)
    t_h = _pick_within(rng, h_start[t_acct], h_count[t_acct])
    t_sec = h_sec[t_h]
    t_off = -rng.integers(1, 61, len(t_acct))
    t_sell = rng.random(len(t_acct)) < 0.55
    t_price = np.round(np.exp(hist[t_sec, -t_off] + rng.normal(0, 0.005, len(t_acct))), 2)
    t_qty = np.maximum(1, (np.abs(lot_sum[t_h]) * rng.uniform(0.05, 0.5, len(t_acct)))
                       .astype(np.int64))
    basis = np.exp(hist[t_sec, rng.integers(40, MAX_HISTORY_DAYS + 1, len(t_acct))])
    harvest = rng.random(len(t_acct)) < 0.5  # loss-harvesting sells: wash-sale material
    basis = np.where(harvest, t_price * rng.uniform(1.05, 1.35, len(t_acct)), basis)
    t_gain = np.where(t_sell, np.round(t_qty * (t_price - basis), 2), np.nan)
    order = np.lexsort((t_off, t_acct))
    t_acct, t_sec, t_off, t_sell = t_acct[order], t_sec[order], t_off[order], t_sell[order]
    t_price, t_qty, t_gain = t_price[order], t_qty[order], t_gain[order]
    # the accounts' last trade date is their latest transaction
    latest = np.full(N, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, t_acct, t_off)
    has_tx = latest > np.iinfo(np.int64).min
    last_off = np.where(has_tx, latest, last_off)
    never = never & ~has_tx

    # cash requests: ~2% of accounts, plus planted accounts that make the URGENT queue
    n_cr = max(1, int(round(0.02 * N)))
    cr_rand = rng.choice(N, size=n_cr, replace=False)
    urgent_pick = [planted_idx[k][:1] for k in ("RECON_BREAK", "FEED_MISSING", "MISSING_PRICE")]
    planted_all = np.concatenate([planted_idx[k] for k in PROBLEM_KINDS])
    more = planted_all[rng.random(len(planted_all)) < 0.06]
    urgent = np.unique(np.concatenate(urgent_pick + [more]))
    cr_acct = np.union1d(cr_rand, urgent)
    cr_high = (rng.random(len(cr_acct)) < 0.30) | np.isin(cr_acct, urgent)
    # true account value (at the generation price, including rare/missing-price holdings)
    acct_value = cash + np.bincount(h_acct, weights=lot_sum * price[h_sec], minlength=N)
    cr_amt = acct_value[cr_acct] * rng.uniform(0.02, 0.30, len(cr_acct))
    cr_amt = np.maximum(100.0, np.round(cr_amt / 100.0) * 100.0)
    cr_due = rng.integers(0, 21, len(cr_acct))
    cr_note = np.where(cr_high,
                       np.array(CASH_NOTES_URGENT, dtype=object)[
                           rng.integers(0, len(CASH_NOTES_URGENT), len(cr_acct))],
                       np.array(CASH_NOTES, dtype=object)[
                           rng.integers(0, len(CASH_NOTES), len(cr_acct))])

    # names
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), N)]
    f1 = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), N)]
    f2 = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), N)]
    tf = np.array([f for f, _ in TAXABLE_FORMS], dtype=object)
    tp = np.array([p for _, p in TAXABLE_FORMS])
    ef = np.array([f for f, _ in EXEMPT_FORMS], dtype=object)
    ep = np.array([p for _, p in EXEMPT_FORMS])
    form = np.where(taxable, tf[rng.choice(len(tf), size=N, p=tp / tp.sum())],
                    ef[rng.choice(len(ef), size=N, p=ep / ep.sum())])
    person = f1 + " " + last
    names = np.where(form == "JOINT", f1 + " & " + f2 + " " + last,
                     np.where(form == "INDIV", person,
                              np.where(np.isin(form, [" Family Trust", " Revocable Trust",
                                                      " Family LP", " Family Foundation",
                                                      " Family Office", " Charitable Trust"]),
                                       last + form, person + form)))

    # explicit tier groups on a few accounts
    group = np.full(N, None, dtype=object)
    perm3 = rng.permutation(N)
    n_g1 = max(1, int(round(0.006 * N)))
    n_g2 = max(1, int(round(0.003 * N)))
    group[perm3[:n_g1]] = "Premier"
    group[perm3[n_g1:n_g1 + n_g2]] = "UHNW"

    # tax rates
    br = rng.choice(len(TAX_BRACKETS), size=N, p=TAX_BRACKET_P)
    st = np.where(taxable, np.array([b[0] for b in TAX_BRACKETS])[br], np.nan)
    lt = np.where(taxable, np.array([b[1] for b in TAX_BRACKETS])[br], np.nan)

    # restriction strings
    syms = sec["symbol"].to_numpy().astype(object)
    tag_txt = np.full(N, "", dtype=object)
    for t in TAGS:
        has = (acct_tagmask & TAG_BIT[t]) != 0
        tag_txt = np.where(has, np.where(tag_txt == "", "tag:" + t, tag_txt + ";tag:" + t),
                           tag_txt)
    sym_txt = np.where(acct_symres >= 0, "sym:" + syms[np.maximum(acct_symres, 0)], "")
    both = np.where((tag_txt != "") & (sym_txt != ""), tag_txt + ";" + sym_txt,
                    tag_txt + sym_txt)
    restr = np.where(both == "", None, both)
    # accounts that hold something their restrictions forbid (mandate to sell)
    hr = ((acct_tagmask[h_acct] & sec_tag[h_sec]) != 0) | (acct_symres[h_acct] == h_sec)
    restricted_holding = np.unique(h_acct[hr])

    # ------------------------------------------------------------------ write
    step(0.6, "Writing files")
    width = max(6, len(str(N)))
    acct_ids = np.char.add("A", np.char.zfill(np.arange(1, N + 1).astype(str), width)).astype(
        object)
    date_str, dlo = _fmt_dates(as_of, -(MAX_HISTORY_DAYS + 10), 400)
    master = sec["_master"].to_numpy()
    bools = ("false", "true")

    def dates(offsets, blank=None):
        codes = np.asarray(offsets, dtype=np.int64) - dlo
        return Cat(codes if blank is None else np.where(blank, -1, codes), date_str)

    def acct_col(idx):
        return Cat(idx, acct_ids)

    def sym_col(idx):
        return Cat(idx, syms)

    # securities.csv
    ms = np.flatnonzero(master)
    s_price = np.where(rare == "MISSING_PRICE", np.nan, price)
    s_off = np.where(rare == "STALE_PRICE", -STALE_DAYS, 0)
    _write_table(out / "securities.csv", {
        "symbol": sym_col(ms), "name": Strs(sec["name"].to_numpy()[ms]),
        "asset_class": Cat(sec_ac[ms], [a[1] for a in ASSET_CLASSES]),
        "price": Fixed(s_price[ms], 2), "price_date": dates(s_off[ms]),
        "tags": Strs(np.where(sec["tags"].to_numpy()[ms] == "", None,
                              sec["tags"].to_numpy()[ms])),
        "rating": Int(sec["rating"].to_numpy()[ms]),
        "substitute_group": Strs(np.where(groups[ms] == "", None, groups[ms])),
    })

    # models.csv
    _write_table(out / "models.csv", {
        "model_id": Strs(models["model_id"].to_numpy()),
        "symbol": Strs(models["symbol"].to_numpy()),
        "weight": Fixed(models["weight"].to_numpy(), 6),
    })

    # accounts.csv
    cust_names = list(CUSTODIANS) + [SMALL_CUSTODIAN]
    _write_table(out / "accounts.csv", {
        "account_id": acct_col(np.arange(N)), "name": Strs(names),
        "model_id": Cat(acct_model, model_ids), "custodian": Cat(cust, cust_names),
        "cash": Fixed(cash, 2), "taxable": Cat(taxable.astype(np.int64), bools),
        "st_rate": Fixed(st, 2), "lt_rate": Fixed(lt, 2),
        "last_trade_date": dates(last_off, blank=never),
        "restrictions": Strs(restr), "group": Strs(group),
    })
    step(0.65, "Writing lots")

    # lots.csv
    max_lots = int(lots_per_acct.max()) if N else 1
    lot_w = max(4, len(str(max_lots)))
    lot_ids = np.char.add("L", np.char.zfill(np.arange(1, max_lots + 1).astype(str), lot_w))
    _write_table(out / "lots.csv", {
        "account_id": acct_col(lot_acct), "lot_id": Cat(lot_no, lot_ids),
        "symbol": sym_col(lot_sec), "quantity": Int(lot_q), "unit_cost": Fixed(unit_cost, 4),
        "acquired_date": dates(-days),
    })
    step(0.9, "Writing custodian positions and other files")

    # custodian_positions.csv
    _write_table(out / "custodian_positions.csv", {
        "account_id": acct_col(h_acct), "symbol": sym_col(h_sec), "quantity": Int(c_qty)})

    # feeds.csv
    nc = len(cust_names)
    _write_table(out / "feeds.csv", {
        "custodian": Cat(np.arange(nc), cust_names), "file_date": dates(np.zeros(nc)),
        "status": Cat(np.r_[np.zeros(nc - 1), 1], ("ok", "failed")),
    })

    # transactions.csv
    _write_table(out / "transactions.csv", {
        "account_id": acct_col(t_acct), "symbol": sym_col(t_sec), "trade_date": dates(t_off),
        "side": Cat(t_sell.astype(np.int64), ("BUY", "SELL")), "quantity": Int(t_qty),
        "price": Fixed(t_price, 2), "realized_gain": Fixed(t_gain, 2),
    })

    # cash_requests.csv
    cr_w = max(5, len(str(len(cr_acct))))
    _write_table(out / "cash_requests.csv", {
        "request_id": Cat(np.arange(len(cr_acct)), np.char.add(
            "CR", np.char.zfill(np.arange(1, len(cr_acct) + 1).astype(str), cr_w))),
        "account_id": acct_col(cr_acct), "amount": Fixed(cr_amt, 2),
        "due_date": dates(cr_due), "priority": Cat(1 - cr_high.astype(np.int64),
                                                   ("high", "normal")),
        "note": Strs(cr_note),
    })

    # corporate_actions.csv
    uslc_pool = np.flatnonzero(sec_pool & (sec_ac == AC_INDEX["USLC"]) & (sec_kind == "stock")
                               & (sec_tag == 0))
    held_uslc = uslc_pool[rng.permutation(len(uslc_pool))]
    ca_rows = [  # symbol, effective offset, kind, ratio, new symbol, processed
        (held_uslc[0], -210, "split", 2.0, -1, 1),
        (held_uslc[1], -395, "split", 3.0, -1, 1),
        (rare_idx["MERGED_AWAY"], -88, "merger", 0.85, held_uslc[2], 1),
        (held_uslc[3], -150, "spinoff", 0.2, rare_idx["SPINOFF_CHILD"], 1),
        (rare_idx["CORP_ACTION_PENDING"], -2, "split", 2.0, -1, 0),
        (held_uslc[4], 12, "split", 4.0, -1, 0),
    ]
    ca_rows.sort(key=lambda r: (r[1], str(syms[r[0]])))
    kinds = ("split", "merger", "spinoff")
    _write_table(out / "corporate_actions.csv", {
        "symbol": sym_col([r[0] for r in ca_rows]),
        "effective_date": dates([r[1] for r in ca_rows]),
        "kind": Cat([kinds.index(r[2]) for r in ca_rows], kinds),
        "ratio": Fixed([r[3] for r in ca_rows], 2), "new_symbol": sym_col([r[4] for r in ca_rows]),
        "processed": Cat([r[5] for r in ca_rows], bools),
    })

    (out / "manifest.json").write_text(json.dumps({"as_of": as_of.isoformat()}) + "\n",
                                       encoding="utf-8")

    # ------------------------------------------------------------------ summary
    tiers = _tiers_of(acct_value)
    tier_counts = {name: int(c) for (name, _, _), c in
                   zip(TIERS, np.bincount(tiers, minlength=len(TIERS)))}
    planted = {k: [str(acct_ids[i]) for i in v] for k, v in planted_idx.items()}
    planted_symbols = {k: str(syms[rare_idx[k]]) for k in
                       ("UNKNOWN_SECURITY", "MISSING_PRICE", "STALE_PRICE",
                        "CORP_ACTION_PENDING")}
    summary = {
        "out_dir": str(out), "as_of": as_of.isoformat(), "seed": seed,
        "accounts": N, "securities": int(master.sum()), "models": len(model_ids),
        "asset_classes": len(ASSET_CLASSES), "holdings": H, "positions": H, "lots": L,
        "transactions": int(len(t_acct)), "cash_requests": int(len(cr_acct)),
        "high_priority_cash_requests": int(cr_high.sum()), "corporate_actions": len(ca_rows),
        "custodians": len(CUSTODIANS) + 1, "failed_custodian": SMALL_CUSTODIAN,
        "restricted_accounts": int(n_restr),
        "restricted_holding_accounts": [str(acct_ids[i]) for i in restricted_holding],
        "tiers": tier_counts,
        "total_value": float(round(acct_value.sum(), 2)),
        "planted": planted,
        "planted_counts": {k: len(v) for k, v in planted.items()},
        "planted_symbols": planted_symbols,
        "urgent": [str(acct_ids[i]) for i in urgent],
        "files": list(FILES),
    }
    step(1.0, "Sample book written")
    return summary
