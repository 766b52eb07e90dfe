"""Subject access and erasure on request, as the IG lead uses them from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cli.main import main
from safeguard.adapters.mail.maildir import deliver
from safeguard.adapters.register.orm import AuditEntry
from testkit import samples
from tests.conftest import ROOT
from tests.factories import INBOX, SW, fields, people


@pytest.fixture
def two_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two alerts about the same child: the first with her mother, the second also names a father."""
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    monkeypatch.chdir(ROOT)
    father = {"Role": "Father", "Surname": "Marchbanks", "Forenames": "Ignatius", "Sex": "Male",
              "Date of birth": "01/02/1980"}
    for subjects in (people(), [*people(), father]):
        deliver(tmp_path / "mail" / "safeguarding", samples.submission(
            SW, INBOX, attachments=[("form.xlsx", samples.xlsx_form(fields(), subjects))]))
    assert main(["intake", "--once", "--without-prefect"]) == 0
    assert main(["approve", "HSA-2026-000001", "--by", "Dana Nightingale"]) == 0
    return tmp_path


def cells(path: Path) -> str:
    book = load_workbook(path, read_only=True)
    return "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v)


def test_a_subject_access_export_holds_both_alerts_and_redacts_everyone_else(
        two_alerts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = two_alerts / "sar.xlsx"
    assert main(["sar", "export", "--nhs-number", samples.CHILD_NHS, "--out", str(out),
                 "--by", "IG lead"]) == 0
    assert "2 alert(s)" in capsys.readouterr().out
    text = cells(out)
    assert "HSA-2026-000001" in text and "HSA-2026-000002" in text
    assert samples.CHILD_FORENAMES in text and samples.CHILD_POSTCODE in text
    others = ("Persephone", samples.MOTHER_NHS, "Ignatius", "Marchbanks", "1980")
    assert [s for s in others if s in text] == []
    assert "[redacted: another person]" in text and "Tamsin Holloway" in text
    assert out.stat().st_mode & 0o777 == 0o600
    staff = two_alerts / "sar-staff.xlsx"
    assert main(["sar", "export", "--name", "Ignatius Marchbanks", "--dob", "1980-02-01", "--redact-staff",
                 "--out", str(staff)]) == 0
    text = cells(staff)
    assert "HSA-2026-000002" in text and "HSA-2026-000001" not in text and "Ignatius" in text
    assert [s for s in ("Tamsin Holloway", "Orla Brightwater", "Dana Nightingale", "Zephyrine")
            if s in text] == []
    from safeguard.bootstrap import open_app
    with open_app().uow() as u:
        exports = [e.detail for e in u.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "subject access export"))]
    assert [e["alerts"] for e in exports] == [["HSA-2026-000001", "HSA-2026-000002"], ["HSA-2026-000002"]]
    assert samples.CHILD_NHS not in str(exports)


def test_libreoffice_opens_the_subject_access_export(two_alerts: Path) -> None:
    out = two_alerts / "sar.xlsx"
    assert main(["sar", "export", "--nhs-number", samples.CHILD_NHS, "--out", str(out)]) == 0
    completed = subprocess.run(["soffice", "--headless", "--norestore",
                                f"-env:UserInstallation=file://{two_alerts}/lo", "--convert-to", "pdf",
                                "--outdir", str(two_alerts / "pdf"), str(out)],
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr
    assert (two_alerts / "pdf" / "sar.pdf").read_bytes().startswith(b"%PDF")


def test_erase_on_request_erases_a_closed_alert_now_and_refuses_an_active_one(
        two_alerts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    erase = ["erase", "--authorised-by", "Ida Governance", "--reason", "Erasure request 12"]
    assert main([*erase, "--alert", "HSA-2026-000001"]) == 1
    assert "Withdraw it first" in capsys.readouterr().err
    assert main(["reject", "HSA-2026-000002", "--by", "Dana Nightingale", "--reason", "Raised twice"]) == 0
    assert main([*erase, "--alert", "HSA-2026-000002"]) == 0
    assert "Erased the personal data of HSA-2026-000002" in capsys.readouterr().out
    assert main(["sar", "export", "--nhs-number", samples.CHILD_NHS,
                 "--out", str(two_alerts / "s.xlsx")]) == 0
    assert "1 alert(s)" in capsys.readouterr().out
    assert main(["audit", "verify", "--full"]) == 0
    out = capsys.readouterr().out
    assert "Audit log intact" in out and "Details erased" in out
    from safeguard.bootstrap import open_app
    with open_app().uow() as u:
        [entry] = u.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "personal data erased on request"))
        assert entry.actor == "Ida Governance" and entry.detail["reason"] == "Erasure request 12"
        assert entry.detail["versions"] == 1 and entry.detail["audit_details"] >= 2
