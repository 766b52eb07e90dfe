"""Kill the intake process (SIGKILL) at each step boundary; the next run must finish the job once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.db import make_engine
from safeguard.adapters.register.orm import InboundMessage
from safeguard.adapters.register.uow import uow_factory
from safeguard.faults import POINTS
from tests.conftest import ROOT, put
from tests.factories import xlsx_submission


def intake_once(tmp_path: Path, url: str, kill_at: str | None) -> int:
    env = {**os.environ, "SAFEGUARD_MAILDIR": str(tmp_path / "mail" / "safeguarding"),
           "SAFEGUARD_DELIVER_TO": str(tmp_path / "mail" / "delivered"), "SAFEGUARD_DATABASE_URL": url}
    env.pop("SAFEGUARD_KILL_AT", None)
    if kill_at:
        env["SAFEGUARD_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "cli.main", "--config", str(ROOT / "config"), "intake", "--once",
           "--without-prefect"]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120).returncode


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_step_leads_to_one_outcome_and_one_reply(point: str, tmp_path: Path, register_url: str,
                                                                config) -> None:
    box = MaildirMailbox(tmp_path / "mail" / "safeguarding", config.settings.service.mailbox_address)
    put(box, xlsx_submission())
    assert intake_once(tmp_path, register_url, point) == -9  # it really died there
    assert intake_once(tmp_path, register_url, None) == 0
    counts = box.folder_counts()
    approvers = len(config.settings.service.approvers)  # each is sent one approval-needed email
    assert (counts["INBOX"], counts["Processed"], counts["Sent"]) == (0, 1, 1 + approvers)
    delivered = list((tmp_path / "mail" / "delivered").glob("*/new/*"))
    assert len(delivered) == 1 + approvers  # the social worker holds exactly one reply, each approver one
    engine = make_engine(register_url)
    with uow_factory(engine)() as u:
        assert u.session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert verify_session(u.session).ok
    engine.dispose()
