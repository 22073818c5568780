"""Hardening #18, class LENGTHS: both databases accept the same books.

One set of limits (engine/core/text_limits.py), the String lengths of storage/models.py, checked at
import: a value one character too long is refused the same way on SQLite (which would store it)
and PostgreSQL (which used to fail with a truncation traceback); a value at the limit is stored
whole on both. Runs on both databases (conftest BOTH_DATABASES)."""
from __future__ import annotations

import pytest
from sqlalchemy import String, select

import main
from bookkit import BASE, write_book
from dbkit import content_digest
from engine.book.book import SPECS
from engine.book.importer import import_book
from engine.core.text_limits import BOOK_COLUMNS, USER_NAME, book_limit
from engine.core.usernames import normalize_user
from storage import models as m
from storage import repo


def _table_column(table: str, column: str):
    cols = m.Base.metadata.tables[table].c
    return cols[column] if column in cols else cols[f"{column}_name"]  # "group" is group_name


def test_the_limits_are_the_schema_lengths():
    """Every text column of the book has its model's String length as its limit (and no limit
    where the model says TEXT); every user column holds a user name of the longest allowed."""
    seen = set()
    for spec in SPECS:
        for col in spec.columns:
            if col.kind not in ("str", "enum"):
                continue
            typ = _table_column(spec.table, col.name).type
            length = typ.length if isinstance(typ, String) else None
            assert book_limit(col.name) == length, (spec.name, col.name, length)
            seen.add(col.name)
    assert set(BOOK_COLUMNS) <= seen
    for table in m.Base.metadata.tables.values():
        for c in table.c:
            if c.name.endswith("_by") or c.name == "username":
                if isinstance(c.type, String) and c.type.length is not None:
                    assert c.type.length >= USER_NAME, (table.name, c.name)


def _long(n: int, head: str = "X") -> str:
    return (head + "0123456789" * (n // 10 + 1))[:n]


def _book_at(tmp_path, name: str, extra: int):
    """The base book plus rows whose limited values are ``extra`` characters over their limit
    (``extra`` 0: exactly at it)."""
    acc, cust, lot = _long(64 + extra, "A"), _long(64 + extra, "C"), _long(64 + extra, "L")
    sym, grp, cls = _long(32 + extra, "S"), _long(64 + extra, "G"), _long(64 + extra, "K")
    req, model = _long(64 + extra, "R"), _long(64 + extra, "M")
    return write_book(tmp_path / name, as_of="2026-11-21", append={
        "securities.csv": [f"{sym},Long,{cls},10,2026-11-20,,,{grp}"],
        "models.csv": [f"{model},CASH,1"],
        "accounts.csv": [f"{acc},Long,{model},{cust},10,true,,,,,{grp}"],
        "lots.csv": [f"{acc},{lot},{sym},1,1,2020-01-01"],
        "cash_requests.csv": [f"{req},{acc},10,2026-11-25,high,"],
    }), dict(account_id=acc, custodian=cust, lot_id=lot, symbol=sym, substitute_group=grp, asset_class=cls,
             request_id=req, model_id=model)


def test_values_at_the_limit_are_stored_whole(engine, tmp_path):
    book, values = _book_at(tmp_path, "at", 0)
    import_book(engine, book)
    with engine.connect() as conn:
        acc = conn.execute(select(m.Account.account_id, m.Account.custodian, m.Account.group)
                           .where(m.Account.account_id == values["account_id"])).one()
        lot = conn.execute(select(m.Lot.lot_id, m.Lot.symbol).where(m.Lot.account_id == values["account_id"])).one()
    assert tuple(acc) == (values["account_id"], values["custodian"], values["substitute_group"])
    assert tuple(lot) == (values["lot_id"], values["symbol"])


def test_values_over_the_limit_refused_the_same_on_both_databases(engine, db_path, tmp_path, capsys):
    import_book(engine, write_book(tmp_path / "good"))
    before = content_digest(db_path)
    book, values = _book_at(tmp_path, "over", 1)
    assert main.main(["import", str(book), "--db", db_path]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing was imported" in err, err
    expected = {  # file, line, column -> the limit named
        ("securities.csv", 7, "symbol"): 32, ("securities.csv", 7, "asset_class"): 64,
        ("securities.csv", 7, "substitute_group"): 64, ("models.csv", len(BASE["models.csv"]) + 1, "model_id"): 64,
        ("accounts.csv", 5, "account_id"): 64, ("accounts.csv", 5, "model_id"): 64,
        ("accounts.csv", 5, "custodian"): 64, ("accounts.csv", 5, "group"): 64,
        ("lots.csv", len(BASE["lots.csv"]) + 1, "account_id"): 64, ("lots.csv", len(BASE["lots.csv"]) + 1, "lot_id"): 64,
        ("lots.csv", len(BASE["lots.csv"]) + 1, "symbol"): 32,
        ("cash_requests.csv", len(BASE["cash_requests.csv"]) + 1, "request_id"): 64,
    }
    for (file, line, column), limit in expected.items():
        where = f"{file}, line {line}, column {column}:"
        assert any(where in ln and f"takes at most {limit} (on every database)" in ln
                   and f"is {limit + 1} characters long" in ln for ln in err.splitlines()), (where, err)
    assert content_digest(db_path) == before


@pytest.mark.parametrize("length", [65, 80, 500])
def test_an_account_id_too_long_is_one_clear_problem(length, engine, db_path, tmp_path, capsys):
    acc = _long(length, "A")
    book = write_book(tmp_path / "b", append={"accounts.csv": [f"{acc},New,GROWTH,SCHWAB,10,true,,,,,"]})
    assert main.main(["import", str(book), "--db", db_path]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "accounts.csv, line 5, column account_id" in ln]
    assert len(lines) == 1 and f"is {length} characters long; account_id takes at most 64" in lines[0], err
    assert len(lines[0]) < 200  # the value is shown cut, not 500 characters
    with engine.connect() as conn:
        assert repo.snapshot_info(conn) is None


@pytest.mark.parametrize("length", [65, 80])
def test_a_user_name_too_long_is_refused_on_both_databases(length, db_path, tmp_path, capsys):
    name = _long(length, "u").lower()
    with pytest.raises(Exception, match=f"longer than {USER_NAME} characters"):
        normalize_user(name)
    assert main.main(["import", str(write_book(tmp_path / "b")), "--db", db_path, "--user", name]) == 2
    err = capsys.readouterr().err
    assert f"longer than {USER_NAME} characters" in err and "Traceback" not in err, err
