"""Identity: one user name is one user (normal form), so four-eyes cannot be satisfied by a
spelling variant; who acted is known from the database login (PostgreSQL) or the OS login."""
import re

import pytest

import main
from engine.core.audit import audit_entries
from engine.book.importer import import_book
from engine.desk.manual import ManualTrade, decide_manual_trades, enter_manual_trades
from engine.desk.review import FourEyesError
from engine.core.tasks import RefusedError, current_user, same_user
from engine.core.usernames import fold_user, normalize_user
from test_four_eyes import trade_row, uhnw_book

VARIANTS = {
    "fullwidth": "ａｌｉｃｅ",
    "upper case with a dotted capital I": "ALİCE",
    "dotless i": "alıce",
    "mathematical bold": "𝐚𝐥𝐢𝐜𝐞",
    "accented": "alicé",
    "all Cyrillic look-alikes": "аӏісе",
    "padded": "  Alice ",
}
REFUSED = {
    "zero-width space": ("alice\u200b", "U+200B"),
    "zero-width joiner inside": ("al\u200dice", "U+200D"),
    "right-to-left mark": ("\u200falice", "U+200F"),
    "control character": ("alice\x07", "U+0007"),
    "Cyrillic a in a Latin name": ("аlice", "mixes CYRILLIC and LATIN"),
    "Greek omicron in a Latin name": ("bοb", "mixes GREEK and LATIN"),
    "empty": ("  ", "cannot be empty"),
    "too long": ("a" * 65, "longer than 64"),
}


@pytest.mark.parametrize("case", list(VARIANTS))
def test_spelling_variants_are_the_same_user(case):
    assert normalize_user(VARIANTS[case]) == "alice"
    assert same_user(VARIANTS[case], "alice") and current_user(VARIANTS[case]) == "alice"


@pytest.mark.parametrize("case", list(REFUSED))
def test_invisible_control_and_mixed_script_names_are_refused(case):
    name, words = REFUSED[case]
    with pytest.raises(RefusedError, match=re.escape(words)):
        normalize_user(name)


def test_distinct_names_stay_distinct():
    assert normalize_user("bob") != normalize_user("alice")
    assert normalize_user("Сергей") != normalize_user("sergei")  # a Cyrillic name that is not a look-alike
    assert normalize_user("田中") == "田中"
    assert fold_user("alice\u200b") == "alice"  # a stored name with an invisible character compares as alice


@pytest.fixture
def book(engine, tmp_path):
    import_book(engine, uhnw_book(tmp_path / "book"), user="ops")
    return engine


def test_four_eyes_cannot_be_satisfied_by_a_spelling_variant(book):
    [tid] = enter_manual_trades(book, "A1", [ManualTrade("AAA", "SELL", 10)], user="alice")
    for same in VARIANTS.values():
        with pytest.raises(FourEyesError, match="entered by alice; a different user must approve it"):
            decide_manual_trades(book, [tid], user=same)
    for name, words in REFUSED.values():
        with pytest.raises(RefusedError, match=re.escape(words)):
            decide_manual_trades(book, [tid], user=name)
    assert trade_row(book, tid)["status"] == "PENDING_APPROVAL"
    assert decide_manual_trades(book, [tid], user="ＢＯＢ") == [tid]
    t = trade_row(book, tid)
    assert (t["status"], t["approved_by"]) == ("APPROVED", "bob")  # recorded in the normal form
    assert set(audit_entries(book)["username"]) <= {"ops", "alice", "bob"}


def test_the_cli_refuses_an_invisible_character_in_user_with_exit_2(book, db_path, capsys):
    code = main.main(["hold", "A1", "--until", "2026-12-31", "--reason", "wire", "--db", db_path,
                      "--user", "alice\u200b"])
    assert code == 2 and "U+200B" in capsys.readouterr().err
    assert not len(audit_entries(book, action="HOLD"))


def test_a_database_password_never_shows_in_crash_reports_or_the_migration_config(capsys, db_path):
    from storage.db import alembic_config, make_engine, redact
    from ui.dialogs import explain

    url = "postgresql+psycopg://alice:s3cr%40t-pw@127.0.0.1:1/desk"
    assert main.main(["migrate", "--db", url]) == 2  # nothing listening: one line, exit 2 (issue #18)
    err = capsys.readouterr().err
    assert "s3cr" not in err and "alice:***@127.0.0.1" in redact(f"failed: {url}")
    head, info, detail = explain(RuntimeError(f"could not open {url}"))
    assert "s3cr" not in info + detail and "***" in info
    eng = make_engine(db_path)
    try:
        shown = alembic_config(eng).get_main_option("sqlalchemy.url")
        assert eng.url.password is None or eng.url.password not in shown
    finally:
        eng.dispose()
