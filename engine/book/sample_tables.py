"""The sample book's fixed tables: the planted problems and their rates, the size tiers, the
files and their columns, the security universe (asset classes, fund themes, stock words, screen
tags), the models, and what accounts are made of (custodians, tax brackets, names, forms,
restrictions, cash-request notes, lots per holding)."""
from __future__ import annotations

from datetime import date

import numpy as np

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
