"""One user name, one user: the normal form every name is compared and recorded in.

:func:`normalize_user` (used by ``current_user``, so by every action) and :func:`fold_user`
(used by ``same_user``, also on names stored before this existed):

1. refused: an empty name, control characters, format characters (zero-width space and
   joiners, bidi controls, soft hyphen, BOM: Unicode category Cf), line/paragraph separators,
   private-use, unassigned or surrogate code points, more than 64 characters;
2. Unicode NFKC, then case folding (``ＡＬＩＣＥ`` and fullwidth ``ａｌｉｃｅ`` are ``alice``);
3. confusables: combining marks are dropped after a canonical decomposition (``ALİCE``, whose
   case folding is ``i`` + a combining dot, and ``alicé`` are ``alice``), dotless ``ı`` and ``ȷ``
   are ``i`` and ``j`` (``alıce`` is ``alice``: the Turkish letter is the classic look-alike);
   a name that mixes Latin, Greek or Cyrillic letters with another script is refused (``аlice``
   with a Cyrillic ``а``); a name written wholly in Cyrillic or Greek letters that all look
   like Latin ones (``аӏісе``) is read as its Latin look-alike (and so is a mixed name stored
   before, when names are compared).

Distinct people whose names differ only by accents are one user to the desk: four-eyes errs
on the side of "the same person".
"""
from __future__ import annotations

import unicodedata

from engine.core.errors import RefusedError

MAX_LENGTH = 64
REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible formatting character (zero-width "
                      "space, joiner, direction mark)", "Zl": "a line separator", "Zp": "a paragraph separator",
                      "Co": "a private-use character", "Cn": "an unassigned character", "Cs": "a surrogate"}
LATIN_LOOKALIKE = {"ı": "i", "ȷ": "j"}
# Cyrillic and Greek letters that look like Latin ones (case-folded forms)
SCRIPT_LOOKALIKE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "ɡ": "g",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ω": "w"})
CONFUSABLE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def _script(ch: str) -> str | None:
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def _letters(name: str) -> str:
    """NFKC, case folding, combining marks dropped, dotless i/j dotted: before the script mapping."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(LATIN_LOOKALIKE.get(c, c) for c in unicodedata.normalize("NFKC", text))


def _scripts(text: str) -> set[str]:
    return {s for s in map(_script, text) if s}


def _fold(name: str) -> str:
    text = _letters(name)
    if _scripts(text) & {"CYRILLIC", "GREEK"} and _scripts(text) <= CONFUSABLE_SCRIPTS:
        mapped = text.translate(SCRIPT_LOOKALIKE)
        if _scripts(mapped) <= {"LATIN"}:  # every letter has a Latin look-alike: read it as that
            text = mapped
    return text.strip()


def problem(name) -> str | None:
    """Why ``name`` cannot be a user name, or None."""
    if not isinstance(name, str) or not name.strip():
        return "a user name cannot be empty"
    for i, ch in enumerate(name):
        what = REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what:
            return f"user name {name!r}: character {i + 1} (U+{ord(ch):04X}) is {what}"
    folded = _fold(name)
    scripts = _scripts(_letters(name))
    if len(scripts) > 1 and scripts & CONFUSABLE_SCRIPTS:
        return (f"user name {name!r} mixes {' and '.join(sorted(scripts))} letters: a look-alike of another "
                "name is refused")
    if len(folded) > MAX_LENGTH:
        return f"user name {name!r} is longer than {MAX_LENGTH} characters"
    return None


def normalize_user(name: str) -> str:
    """The normal form of a user name; :class:`RefusedError` naming the problem when refused."""
    why = problem(name)
    if why:
        raise RefusedError(why)
    return _fold(name)


def fold_user(name) -> str | None:
    """The comparison key of any name, stored ones included (refused characters are dropped)."""
    if not isinstance(name, str):
        return None
    kept = "".join(c for c in name if unicodedata.category(c) not in REFUSED_CATEGORIES)
    return _fold(kept)
