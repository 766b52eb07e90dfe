"""Approval by email, end to end: a real Prefect server, the mailbox and every person's mailbox on
real Dovecot/Postfix, intake run as the flow.

A submission starts an approval run, which waits suspended (no process held) with its form. Each
listed approver is emailed the reference, a link and a one-time code. Five wrong answers change
nothing and are answered or quarantined in plain words; the right one, from an approver's own
authenticated address, records the decision, sends every notice at once (intake dispatches it) and
ends the waiting run. The Prefect database holds none of the case's details, nor the code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
import yaml

from testkit import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.e2e.test_alert_lifecycle_flow import scheduled_run, wait_until_paused, work
from tests.factories import fields, people
from tests.mailstack import StackConfig, read_inbox, smtp_deliver, stack_config

pytestmark = [pytest.mark.prefect, pytest.mark.mailstack]
CODE = re.compile(r"APPROVE (HSA-\d{4}-\d{6}) ([A-Z0-9]{8})")


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StackConfig]:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_IMAP_PASSWORD", "test")
    yield stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}")


def second_approver(stack: StackConfig) -> str:
    settings = yaml.safe_load((stack.directory / "settings.yaml").read_text())
    return str(settings["service"]["approvers"][1]["email"])


def text(raw: bytes) -> str:
    message: Message = message_from_bytes(raw)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]


def submit(stack: StackConfig, sender: str) -> None:
    smtp_deliver(samples.submission(sender, stack.mailbox, attachments=[("form.xlsx", samples.xlsx_form(
        fields(**{"Social worker email": stack.social_worker}), people()))]), stack.mailbox, sender)


def send(stack: StackConfig, sender: str, subject: str, body: str = "", authenticated: bool = True) -> None:
    smtp_deliver(samples.submission(sender, stack.mailbox, subject=subject, body=body or "Decided.\n",
                                    authenticated=authenticated), stack.mailbox, sender)


def intake(stack: StackConfig, expect_in_inbox: int) -> dict[str, int]:
    from flows.intake import intake as intake_flow
    read_inbox(stack.mailbox, expect_in_inbox)
    return intake_flow(config_dir=str(stack.directory))


def answers(address: str, count: int) -> list[str]:
    """The subjects and texts of the first `count` emails in this mailbox, oldest first."""
    return [f"{subject_of(m)}\n{text(m)}" for m in read_inbox(address, count, timeout=30)]


def code_for(address: str, count: int, reference: str) -> str:
    found = [m.group(2) for a in answers(address, count) if (m := CODE.search(a)) and m.group(1) == reference]
    assert len(found) == 1, found
    return found[0]


def alert_status(stack: StackConfig, reference: str) -> str:
    from safeguard.bootstrap import open_app
    with open_app(str(stack.directory)).intake_context() as ctx, ctx.uow() as u:
        alert = u.register.alert(reference)
        assert alert is not None
        return str(alert.status)


def test_an_alert_is_approved_by_email_and_five_wrong_answers_change_nothing(
        approval_deployment: str, prefect_server: str, stack: StackConfig) -> None:
    from prefect.client.orchestration import get_client

    from flows.alert_approval import alert_approval
    dana, sam, admin = stack.approver, second_approver(stack), stack.admin
    submit(stack, stack.social_worker)  # HSA-2026-000001
    submit(stack, sam)  # HSA-2026-000002: submitted by an approver (on the form, the social worker)
    assert intake(stack, 2)["accepted"] == 2
    ref, own = "HSA-2026-000001", "HSA-2026-000002"
    with get_client(sync_client=True) as client:  # the run waits suspended, with its form
        run = scheduled_run(client, ref)
        work(client, alert_approval, run.id)
        wait_until_paused(client, run.id, time.monotonic() + 60)
    dana_code = code_for(dana, 2, ref)
    sam_code = code_for(sam, 2, ref)  # and the reply to Sam's own submission: Sam is not asked about it
    assert not any(a.startswith(f"{own}:") and "APPROVE" in a for a in answers(sam, 2))
    asked = "".join(answers(dana, 2))  # the reference, a link and the code: no personal data
    assert samples.SUBJECT_SURNAME not in asked and stack.social_worker not in asked

    wrong = "".join("Z" if c != "Z" else "Y" for c in dana_code)
    send(stack, dana, f"APPROVE {ref} {wrong}")  # 1. a wrong code
    send(stack, stack.social_worker, f"APPROVE {ref} {dana_code}")  # 2. not an approver
    send(stack, dana, f"APPROVE {ref} {dana_code}", authenticated=False)  # 3. authentication failed
    send(stack, sam, f"APPROVE {own} {sam_code}")  # 4. an approver approving their own alert
    assert intake(stack, 4)["recorded"] == 0
    assert alert_status(stack, ref) == alert_status(stack, own) == "AWAITING_APPROVAL"
    told_dana, told_sam = answers(dana, 3)[-1], answers(sam, 3)[-1]
    assert f"{ref}: not actioned" in told_dana and "is not the one we sent you" in told_dana
    assert f"{own}: not actioned" in told_sam and "nobody may approve or reject their own alert" in told_sam
    quarantined = "\n".join(answers(admin, 2))  # neither claimed sender is answered
    assert "not a listed approver" in quarantined and "no result from the site's mail gateway" in quarantined
    assert len(read_inbox(stack.social_worker, 1)) == 1  # only the reply to the submission

    send(stack, dana, f"APPROVE {ref} {dana_code}")  # the right answer
    assert intake(stack, 1)["recorded"] == 1
    assert alert_status(stack, ref) == "ACTIVE"
    for code in ("UHCW", "SWFT"):  # sent by intake at once, not by the waiting run
        held = read_inbox(stack.providers[code], 1, timeout=30)
        assert [subject_of(m).startswith(f"{ref}: HEALTH ALERT for {code}:") for m in held] == [True]
    assert f"{ref}: approved" in answers(dana, 4)[-1]
    with get_client(sync_client=True) as client:  # the waiting run was ended, with no process started
        state = client.read_flow_run(run.id).state
        assert state is not None and state.is_completed()
        assert "by email by Dana Nightingale" in str(state.message)

    send(stack, sam, f"REJECT {ref} {sam_code}", "Reason: Not proportionate.\n")  # 5. already decided
    assert intake(stack, 1)["recorded"] == 0
    told_sam = answers(sam, 4)[-1]
    assert f"{ref}: not actioned" in told_sam and "already approved by Dana Nightingale" in told_sam
    for code in ("UHCW", "SWFT"):  # every notice exactly once
        time.sleep(1)
        assert len(read_inbox(stack.providers[code], 1, timeout=5)) == 1
    assert leaked(prefect_server, (dana_code, sam_code, "Not proportionate")) == []
