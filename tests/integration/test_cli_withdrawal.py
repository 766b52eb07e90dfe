"""`safeguard approve|reject --withdrawal` and `safeguard reinstate` as the admin team uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from safeguard.adapters.mail.maildir import deliver
from testkit import samples
from tests.conftest import ROOT, subject_of
from tests.factories import INBOX, SW, xlsx_submission

REF = "HSA-2026-000001"


@pytest.fixture
def withdraw_requested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An approved alert, and the social worker's WITHDRAW waiting for the safeguarding team."""
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    monkeypatch.chdir(ROOT)
    deliver(tmp_path / "mail" / "safeguarding", xlsx_submission())
    assert main(["intake", "--once", "--without-prefect"]) == 0
    assert main(["approve", REF, "--by", "Dana Nightingale"]) == 0
    deliver(tmp_path / "mail" / "safeguarding", samples.submission(SW, INBOX, subject=f"WITHDRAW {REF}",
                                                                    body="Reason: Found\n"))
    assert main(["intake", "--once", "--without-prefect"]) == 0
    return tmp_path


def held(home: Path, address: str) -> list[str]:
    box = home / "mail" / "delivered" / address / "new"
    return sorted(subject_of(p.read_bytes()) for p in box.iterdir()) if box.exists() else []


def test_approve_withdrawal_then_reinstate_on_the_command_line(withdraw_requested: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["approve", REF.lower(), "--withdrawal", "--by", "Dana Nightingale"]) == 0
    out = capsys.readouterr().out
    assert f"{REF} withdrawn by Dana Nightingale. Withdrawal notices: UHCW, SWFT." in out
    assert held(withdraw_requested, "safeguarding@uhcw.test").count(
        f"{REF}: health alert WITHDRAWN for UHCW") == 1
    assert main(["reinstate", REF, "--by", "Sam Okafor", "--reason", "Withdrawn in error."]) == 0
    out = capsys.readouterr().out
    assert f"{REF} reinstated by Sam Okafor: it is active again." in out and "notices: UHCW, SWFT" in out
    for code, address in (("UHCW", "safeguarding@uhcw.test"), ("SWFT", "safeguarding.team@swft.test")):
        assert held(withdraw_requested, address).count(
            f"{REF}: WITHDRAWAL CANCELLED for {code}: flag the health alert again") == 1
    assert main(["reinstate", REF, "--by", "Sam Okafor", "--reason", "again"]) == 1
    err = capsys.readouterr().err
    assert f"{REF} is active, not withdrawn, so there is nothing to reinstate. Nothing was changed." in err
    assert "Traceback" not in err


def test_reject_withdrawal_needs_a_reason_and_keeps_the_alert_active(
        withdraw_requested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reject", REF, "--withdrawal", "--by", "Dana Nightingale"])
    capsys.readouterr()
    # no form waits
    assert main(["reject", REF, "--by", "Dana Nightingale", "--reason", "Still missing."]) == 1
    assert f"A withdrawal of {REF} is waiting for a decision: add --withdrawal" in capsys.readouterr().err
    assert main(["reject", REF, "--withdrawal", "--by", "Dana Nightingale", "--reason",
                 "Still missing."]) == 0
    assert "declined by Dana Nightingale: the alert stays active" in capsys.readouterr().out
    assert f"{REF}: withdrawal not actioned, the alert stays active" in held(withdraw_requested, SW)
    assert main(["approve", REF, "--withdrawal", "--by", "Dana Nightingale"]) == 1
    assert "already declined by Dana Nightingale" in capsys.readouterr().err
    assert not any("WITHDRAWN" in s for s in held(withdraw_requested, "safeguarding@uhcw.test"))
    assert main(["reinstate", "HSA-2026-000777", "--by", "Sam Okafor", "--reason", "x"]) == 1
    assert "There is no alert HSA-2026-000777" in capsys.readouterr().err
