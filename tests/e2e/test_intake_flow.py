"""The intake flow through a real Prefect server; afterwards Prefect's database holds no personal data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from safeguard import samples
from safeguard.mail.maildir import MaildirMailbox
from tests.conftest import ROOT, TODAY, put
from tests.factories import text_submission, xlsx_submission

pytestmark = pytest.mark.prefect

PERSONAL_DATA = [samples.SUBJECT_SURNAME, "Zephyrine", "Amaranth", "Persephone", samples.CHILD_NHS,
                 samples.MOTHER_NHS, "943 476 5919", samples.CHILD_POSTCODE, "CV15FB", "Nowhere Lane",
                 "03/04/1985", "1985-04-03", samples.subjects(TODAY)[0]["Date of birth"],
                 "exploitation"]


def prefect_database_text(url: str) -> str:
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_intake_runs_as_a_flow_and_leaves_no_personal_data_in_prefect(
        prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config) -> None:  # noqa: ANN001
    from flows.intake import intake
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    box = MaildirMailbox(tmp_path / "mail" / "safeguarding", config.settings.service.mailbox_address)
    first = xlsx_submission()
    for raw in (first, text_submission(Urgency="Routine"), xlsx_submission(Urgency="Never"), first):
        put(box, raw)
    summary = intake(config_dir=str(ROOT / "config"))
    assert summary["accepted"] == 2 and summary["invalid"] == 1 and summary["duplicate"] == 1
    assert box.folder_counts()["INBOX"] == 0
    dump = prefect_database_text(prefect_server)
    assert "HSA-2026-" in dump  # the scan does see what the run wrote
    leaked = [item for item in PERSONAL_DATA if item.lower() in dump.lower()]
    assert leaked == []
