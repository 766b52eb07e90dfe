"""Two workers on one register at once: no message recorded twice, one unbroken audit chain."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.orm import Alert
from safeguard.service_layer.intake import IntakeContext, process_message
from tests.conftest import put
from tests.factories import text_submission


def test_two_workers_on_a_fresh_register_keep_one_chain_and_unique_references(
        config, uow, clock, tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "mail", config.settings.service.mailbox_address)
    ids = [put(box, text_submission()) for _ in range(12)]
    ids += ids  # both workers also try every message the other one has
    ctx = IntakeContext(config, box, uow, clock)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda mid: (mid, process_message(mid, ctx).outcome), ids))
    # a re-check reports the recorded outcome; a copy met while the other worker holds the message may
    # be left for the next pass (deferred): what matters is that every message is accepted (once: below)
    assert {outcome for _, outcome in outcomes} <= {"accepted", "gone", "deferred"}
    assert {mid for mid, outcome in outcomes if outcome == "accepted"} == set(ids)
    with uow() as u:
        refs = u.session.scalars(select(Alert.reference)).all()
        assert len(refs) == len(set(refs)) == 12
        assert u.session.scalar(select(func.count()).select_from(Alert)) == 12
        assert verify_session(u.session).ok
    approvers = len(config.settings.service.approvers)  # each is sent an approval-needed email per alert
    assert box.folder_counts()["Sent"] == 12 * (1 + approvers)
