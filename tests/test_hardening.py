"""Issue #18 hardening, on both databases: a corpus of broken and hostile book folders (mutations of
bookkit's valid book), each refused with exit 2, the file, line and column named, never a traceback,
and the database unchanged; the book date cannot lock the desk; hostile values never reach an order
or a screen raw. Classes: MALFORMED (files, headers, rows, encodings), HOSTILE (values that would
become orders), DATE (the manifest's as_of), NOT_A_FILE (pipes, devices, folders, links)."""
from __future__ import annotations

import csv
import json
import os
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

import main
from bookkit import AS_OF, BASE, write_book
from dbkit import content_digest
from engine.desk.exporter import export_batch
from engine.book.importer import AS_OF_AHEAD_DAYS, AsOfRefused, import_book
from engine.decide.workflow import run_workflow
from storage import repo


def _sub(file: str, line: int, text: str) -> dict:
    """``file`` with its line ``line`` (1 = header) replaced by ``text``."""
    lines = list(BASE[file])
    lines[line - 1] = text
    return {file: lines}


def _add(file: str, text: str) -> dict:
    return {file: list(BASE[file]) + [text]}


ACC = "{},New,GROWTH,SCHWAB,10,true,,,,,"
# case: (files changed, raw bytes appended to a file or None, file named, line, column, words)
CORPUS = {
    # HOSTILE: values that would become FIX tags, CSV cells or sheet titles
    "account id with SOH and 54=1": (_add("accounts.csv", ACC.format("A9\x0154=1\x0138=999999")), None,
                                     "accounts.csv", 5, "account_id", "SOH"),
    "account id with =": (_add("accounts.csv", ACC.format("A9=1")), None, "accounts.csv", 5, "account_id", "'='"),
    "account id with |": (_add("accounts.csv", ACC.format("A|9")), None, "accounts.csv", 5, "account_id", "'|'"),
    "symbol with =": (_add("securities.csv", "X=Y,Ex,US Equity,1,2026-11-20,,,"), None, "securities.csv", 7,
                      "symbol", "'='"),
    "custodian with SOH": (_add("accounts.csv", "A9,New,GROWTH,SCH\x01WAB,10,true,,,,,"), None, "accounts.csv", 5,
                           "custodian", "SOH"),
    "lot id with ;": (_add("lots.csv", "A1,L9;L1,AAA,1,1,2020-01-01"), None, "lots.csv", 9, "lot_id", "';'"),
    "lot id with :": (_add("lots.csv", "A1,L9:5,AAA,1,1,2020-01-01"), None, "lots.csv", 9, "lot_id", "':'"),
    "request id with tab": (_add("cash_requests.csv", "CR\t9,A1,10,2026-11-25,high,"), None, "cash_requests.csv", 3,
                            "request_id", "tab"),
    "model id with =": (_sub("models.csv", 8, "INCOME=1,CASH,0.02"), None, "models.csv", 8, "model_id", "'='"),
    "name with a terminal escape": (_sub("accounts.csv", 2, "A1,Smith\x1b[2J Trust,GROWTH,SCHWAB,2000,true,0.37,"
                                         "0.20,2026-06-01,,"), None, "accounts.csv", 2, "name", "ESC"),
    "note with a C1 control": (_add("cash_requests.csv", "CR9,A1,10,2026-11-25,high,pay\x85now"), None,
                               "cash_requests.csv", 3, "note", "\\x85"),
    "quoted value with a newline": (_add("accounts.csv", '"A9\nX",New,GROWTH,SCHWAB,10,true,,,,,'), None,
                                    "accounts.csv", 5, "account_id", "LF"),
    # MALFORMED: headers, rows, quotes, encodings, blank keys
    "duplicated header column": (_sub("lots.csv", 1, "account_id,lot_id,symbol,quantity,quantity,unit_cost,"
                                      "acquired_date"), None, "lots.csv", 1, "quantity", "appears twice"),
    "header with a control character": (_sub("feeds.csv", 1, "custodian,file_date\x01,status"), None, "feeds.csv",
                                        1, None, "control character"),
    "ragged row, extra field": (_add("lots.csv", "A1,L9,AAA,1,1,2020-01-01,extra"), None, "lots.csv", 9, None,
                                "has 7 field(s), the header has 6"),
    "ragged row, missing field": (_sub("lots.csv", 3, "A1,L2,AAA,100,120.00"), None, "lots.csv", 3, None,
                                  "has 5 field(s), the header has 6"),
    "unterminated quote": (_sub("accounts.csv", 3, 'A2,"Jones IRA,INCOME,FIDELITY,1000,false,,,,,'), None,
                           "accounts.csv", 3, None, "unterminated quote"),
    "invalid UTF-8 on line 4": ({}, ("lots.csv", 4, b"A1,L\xff3,BBB,1500,21.00,2023-03-01"), "lots.csv", 4,
                                "character 5", "not UTF-8"),
    "invalid UTF-8 in the header": ({}, ("feeds.csv", 1, b"custodian,file_d\xc3te,status"), "feeds.csv", 1, None,
                                    "not UTF-8"),
    "latin-1 file": ({}, ("accounts.csv", 3, "A2,Jörg IRA,INCOME,FIDELITY,1000,false,,,,,".encode("latin-1")),
                     "accounts.csv", 3, None, "not UTF-8"),
    "blank symbol in models": (_sub("models.csv", 3, "GROWTH,,0.10"), None, "models.csv", 3, "symbol",
                               "a value is required"),
    "blank model_id in models": (_sub("models.csv", 6, ",BBB,0.78"), None, "models.csv", 6, "model_id",
                                 "a value is required"),
    "blank account_id in lots": (_sub("lots.csv", 2, ",L1,AAA,500,80.00,2020-01-15"), None, "lots.csv", 2,
                                 "account_id", "a value is required"),
    "blank account_id in accounts": (_sub("accounts.csv", 4, ",Lee Family,GROWTH,SCHWAB,5000,true,0.37,0.20,,"
                                          "tag:tobacco,"), None, "accounts.csv", 4, "account_id",
                                     "a value is required"),
    "whitespace-only symbol": (_sub("securities.csv", 6, "   ,Oil Co,US Equity,80.00,2026-11-20,energy,5,"), None,
                               "securities.csv", 6, "symbol", "a value is required"),
    "empty file": ({"securities.csv": []}, None, "securities.csv", 1, "symbol", "missing from the header"),
}


def _mutate(folder, raw):
    if raw is None:
        return
    file, line, data = raw
    lines = (folder / file).read_bytes().split(b"\n")
    lines[line - 1] = data
    (folder / file).write_bytes(b"\n".join(lines))


@pytest.fixture
def imported(engine, db_path, tmp_path):
    import_book(engine, write_book(tmp_path / "good"))
    return content_digest(db_path)


@pytest.mark.parametrize("case", list(CORPUS))
def test_corpus_refused_with_exit_2_naming_file_line_column(case, imported, db_path, tmp_path, capsys):
    changes, raw, file, line, column, words = CORPUS[case]
    bad = write_book(tmp_path / "bad", as_of="2026-11-21", changes=changes)
    _mutate(bad, raw)
    code = main.main(["import", str(bad), "--db", db_path])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "nothing was imported" in err
    where = f"{file}, line {line}" + (f", column {column}" if column else "")
    assert any(where in ln and words in ln for ln in err.splitlines()), (where, words, err)
    assert "\x01" not in err and "\x1b" not in err  # hostile values are shown escaped
    assert content_digest(db_path) == imported


def test_all_problems_at_once_capped_at_50(imported, db_path, tmp_path, capsys):
    bad = write_book(tmp_path / "bad", as_of="2026-11-21", changes={
        "lots.csv": BASE["lots.csv"] + [f"A1,X{i},AAA,abc,1,2020-01-01" for i in range(30)],
        "accounts.csv": BASE["accounts.csv"] + [f"B{i}\x01,n,GROWTH,SCHWAB,1,maybe,,,,," for i in range(30)],
        "transactions.csv": BASE["transactions.csv"] + [f"A1,AAA,2026-09-01,HOLD,{i},1," for i in range(30)]})
    assert main.main(["import", str(bad), "--db", db_path]) == 2
    err = capsys.readouterr().err.splitlines()
    listed = [ln for ln in err if ", line " in ln]
    assert len(listed) == 50
    assert {ln.split(",")[0].strip() for ln in listed} == {"lots.csv", "accounts.csv"}  # 25 a file, in order
    assert any("more listed problem(s) not shown" in ln for ln in err)
    assert content_digest(db_path) == imported


def test_header_names_with_spaces_and_bom_are_read(engine, tmp_path):
    lots = list(BASE["lots.csv"])
    lots[0] = "\ufeff account_id , lot_id,symbol ,quantity,unit_cost,acquired_date"
    folder = write_book(tmp_path / "b", changes={"lots.csv": lots})
    (folder / "manifest.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"as_of": AS_OF}).encode())
    snap = import_book(engine, folder)
    with engine.connect() as conn:
        lots_df = repo.read_book_frames(conn, snap)["lots"]
        assert str(repo.snapshot_info(conn).as_of) == AS_OF
    assert len(lots_df) == 7 and set(lots_df["account_id"]) == {"A1", "A2", "A3"}
    assert lots_df["quantity"].astype(float).sum() == 6300


# NOT_A_FILE: a pipe, a device, a folder, a link out of the book folder
@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "link out"])
def test_files_that_are_not_files_refused_at_once(kind, imported, db_path, tmp_path, capsys):
    bad = write_book(tmp_path / "bad", as_of="2026-11-21")
    target = bad / "lots.csv"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")
    elif kind == "folder":
        target.mkdir()
    else:
        outside = tmp_path / "elsewhere.csv"
        outside.write_text("\n".join(BASE["lots.csv"]) + "\n")
        target.symlink_to(outside)
    code = main.main(["import", str(bad), "--db", db_path])  # returns at once: a pipe is never opened
    err = capsys.readouterr().err
    assert code == 2 and "lots.csv" in err and "Traceback" not in err, err
    assert content_digest(db_path) == imported


# DATE: the manifest's as_of
@pytest.mark.parametrize("value", ["20261120", "2026-W47-5", 20261120, "2026-11-20T00:00", "2026-02-30", None,
                                   "2026-11-2", " 2026-11-20"])
def test_as_of_not_yyyy_mm_dd_is_structural(value, imported, db_path, tmp_path, capsys):
    bad = write_book(tmp_path / "bad")
    (bad / "manifest.json").write_text(json.dumps({"as_of": value}))
    assert main.main(["import", str(bad), "--db", db_path]) == 2
    err = capsys.readouterr().err
    assert "manifest.json, column as_of" in err and "Traceback" not in err, err
    assert content_digest(db_path) == imported


@pytest.mark.parametrize("as_of", ["2062-11-20", "9999-12-31", "1999-11-20",
                                   (date.today() + timedelta(days=AS_OF_AHEAD_DAYS + 1)).isoformat()])
def test_far_as_of_refused_unless_confirmed(as_of, engine, db_path, tmp_path, capsys):
    folder = write_book(tmp_path / "far", as_of=as_of)
    before = content_digest(db_path)
    assert main.main(["import", str(folder), "--db", db_path]) == 2
    err = capsys.readouterr().err
    assert f"as of {as_of}" in err and "--as-of-ok" in err and "Traceback" not in err, err
    assert content_digest(db_path) == before
    with pytest.raises(AsOfRefused):
        import_book(engine, folder)
    assert main.main(["import", str(folder), "--db", db_path, "--as-of-ok"]) == 0
    with engine.connect() as conn:
        assert str(repo.snapshot_info(conn).as_of) == as_of
        log = repo.audit_frame(conn)
    assert log["detail"].str.contains("confirmed").any()


def test_as_of_near_today_needs_no_confirmation(engine, tmp_path):
    for days in (-AS_OF_AHEAD_DAYS, 0, AS_OF_AHEAD_DAYS):
        import_book(engine, write_book(tmp_path / f"d{days}", as_of=(date.today() + timedelta(days=days))
                                       .isoformat()), allow_same=True)


# HOSTILE values that do pass import (legal, but awkward) are written safely
def test_xlsx_export_with_custodian_a_slash_b_colon_c_star(engine, tmp_path):
    cust = "A/B:C*"
    accounts = [ln.replace("SCHWAB", cust) for ln in BASE["accounts.csv"]]
    accounts[1] = accounts[1].replace("Smith Trust", "=HYPERLINK(\"x\")")
    feeds = [ln.replace("SCHWAB", cust) for ln in BASE["feeds.csv"]]
    book = write_book(tmp_path / "b", changes={"accounts.csv": accounts, "feeds.csv": feeds})
    import_book(engine, book)
    run_workflow(engine, workers=1)  # the default policy approves small accounts itself
    res = export_batch(engine, tmp_path / "out", formats=("csv", "fix", "xlsx"))
    assert res is not None
    wb = load_workbook(tmp_path / "out" / f"trades_{res.batch_id}.xlsx")
    assert sorted(wb.sheetnames) == ["A_B_C_", "FIDELITY"]
    ws = wb["A_B_C_"]
    header = [c.value for c in ws[1]]
    custodians = {r[header.index("custodian")] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert custodians == {cust}
    rows = list(csv.DictReader(open(tmp_path / "out" / f"trades_{res.batch_id}.csv", encoding="utf-8")))
    assert {r["custodian"] for r in rows} == {cust, "FIDELITY"}


def test_audit_and_overrides_print_newlines_and_escapes_escaped(engine, book_dir, db_path, capsys):
    import_book(engine, book_dir)
    forged = "client call\n2026-11-20 09:00:00  admin        APPROVE_ALL\x1b[31m"
    assert main.main(["hold", "A1", "--until", "2026-12-31", "--reason", forged, "--db", db_path]) == 0
    capsys.readouterr()
    assert main.main(["audit", "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "APPROVE_ALL" in out
    assert not any(ln.startswith("2026-11-20 09:00:00  admin") for ln in out.splitlines())
    assert "client call\\n2026-11-20" in out
    assert main.main(["overrides", "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and len(out.strip().splitlines()) == 2  # header + one override
