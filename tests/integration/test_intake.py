"""Intake on the Maildir adapter, against SQLite and PostgreSQL registers."""

from __future__ import annotations

from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import func, select

from safeguard.adapters.mail.port import Folder
from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.orm import Alert, InboundMessage, OutboxEntry
from safeguard.domain.config.models import Limits
from safeguard.service_layer import intake
from safeguard.service_layer.intake import IntakeContext, process_message
from testkit import samples
from tests import hostile
from tests.conftest import put, subject_of, with_settings
from tests.factories import INBOX, SW, text_submission, xlsx_submission


def run(ctx: IntakeContext) -> list:
    return [process_message(mid, ctx) for mid in ctx.mailbox.list_new()]


def sent_subjects(ctx: IntakeContext) -> list[str]:
    """What was sent, less the approval-needed emails to the approvers (one each per new alert)."""
    subjects = (subject_of(p.read_bytes()) for p in ctx.mailbox.list_folder(Folder.SENT))
    return sorted(s for s in subjects if not s.endswith("waiting for approval"))


def test_a_valid_submission_gets_a_reference_a_reply_and_is_filed(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    assert (result.outcome, result.reference, result.folder) == ("accepted", "HSA-2026-000001", "Processed")
    assert sent_subjects(intake_ctx) == ["HSA-2026-000001: health alert received, awaiting approval"]
    assert intake_ctx.mailbox.folder_counts()["INBOX"] == 0
    with intake_ctx.uow() as u:
        alert = u.session.scalars(select(Alert)).one()
        assert alert.status == "AWAITING_APPROVAL" and verify_session(u.session).ok


def test_the_same_message_delivered_twice_gives_one_register_entry_and_one_reply(
        intake_ctx: IntakeContext) -> None:
    raw = text_submission()
    put(intake_ctx.mailbox, raw)
    put(intake_ctx.mailbox, raw)
    outcomes = [r.outcome for r in run(intake_ctx)]
    assert outcomes == ["accepted", "duplicate"]
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert u.session.scalars(select(InboundMessage)).one().copies == 2
    assert len(sent_subjects(intake_ctx)) == 1
    assert intake_ctx.mailbox.folder_counts()["Processed"] == 2


def test_running_intake_again_changes_nothing(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    run(intake_ctx)
    assert run(intake_ctx) == []
    assert len(sent_subjects(intake_ctx)) == 1


def test_every_bad_input_ends_in_a_reply_or_quarantine_and_none_stops_the_batch(
        intake_ctx: IntakeContext) -> None:
    box = intake_ctx.mailbox
    xlsx = samples.xlsx_form(*(_fields_people()))
    bad = {
        "macro": samples.submission(SW, INBOX, attachments=[("form.xlsm", xlsx)]),
        "encrypted": samples.submission(SW, INBOX,
                                        attachments=[("form.xlsx", hostile.encrypted_office_file())]),
        "corrupt": samples.submission(SW, INBOX, attachments=[("form.xlsx", hostile.corrupt_xlsx())]),
        "zip bomb": samples.submission(SW, INBOX, attachments=[("form.xlsx", hostile.zip_bomb())]),
        "xxe": samples.submission(SW, INBOX, attachments=[("form.xlsx", hostile.xxe_xlsx())]),
        "two forms": samples.submission(SW, INBOX, attachments=[("a.xlsx", xlsx), ("b.xlsx", xlsx)]),
        "html only": samples.submission(SW, INBOX, body=" ", html="<p>Alert type: Missing child</p>"),
        "no headers": b"\r\n\r\nAlert type: Missing child\r\n",
        "garbage": bytes(range(256)) * 20,
        "long body": samples.submission(SW, INBOX, body="line\n" * 10_000),
        "forged": samples.submission(SW, INBOX, body="x", extra_headers={"Reply-To": "a@evil.test"}),
        "unauthorised": samples.submission("x@freemail.test", INBOX, body="x"),
    }
    for raw in bad.values():
        put(box, raw)
    put(box, xlsx_submission())
    results = run(intake_ctx)
    assert len(results) == len(bad) + 1
    assert {r.outcome for r in results} <= {"accepted", "invalid", "quarantined"}
    assert [r.outcome for r in results].count("accepted") == 1
    assert box.folder_counts()["INBOX"] == 0
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).where(OutboxEntry.status != "sent")) == 0


def test_an_oversized_attachment_is_quarantined_and_the_sender_told(intake_ctx: IntakeContext) -> None:
    ctx = IntakeContext(with_settings(intake_ctx.config, limits=Limits(max_attachment_mb=0.001)),
                        intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    put(ctx.mailbox, xlsx_submission())
    [result] = run(ctx)
    assert (result.outcome, result.reason) == ("quarantined", "attachment-refused")
    assert sorted(sent_subjects(ctx))[0].startswith("Quarantined: message")
    assert "Your email to the safeguarding team could not be processed" in sent_subjects(ctx)


def test_an_invalid_form_reply_lists_every_problem(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission(**{"Urgency": "Soon", "Providers to alert": "NOPE"}))
    [result] = run(intake_ctx)
    assert (result.outcome, result.folder) == ("invalid", "Rejected")
    [reply] = intake_ctx.mailbox.list_folder(Folder.SENT)
    text = message_from_bytes(reply.read_bytes()).get_payload()[0].get_payload(decode=True).decode()
    assert "1. Urgency: must be one of: Routine, Urgent." in text and "NOPE" in text


def _fields_people():
    from tests.factories import fields, people
    return fields(), people()


def test_a_message_that_cannot_be_fetched_is_deferred_and_the_batch_goes_on(
        intake_ctx: IntakeContext) -> None:
    from safeguard.adapters.mail.port import TemporaryMailboxError
    from safeguard.service_layer.intake import process_batch

    box = intake_ctx.mailbox
    stuck = put(box, text_submission())
    put(box, xlsx_submission())
    real_fetch = box.fetch

    def flaky_fetch(mailbox_id: str) -> bytes | None:
        if mailbox_id == stuck:
            raise TemporaryMailboxError("the mail server went away")
        return real_fetch(mailbox_id)

    box.fetch = flaky_fetch  # type: ignore[method-assign]
    results = process_batch(box.list_new(), intake_ctx)
    assert sorted(r.outcome for r in results) == ["accepted", "deferred"]
    assert box.list_new() == [stuck]  # left in INBOX for the next run, nothing lost
    box.fetch = real_fetch  # type: ignore[method-assign]
    assert [r.outcome for r in process_batch(box.list_new(), intake_ctx)] == ["accepted"]


def test_a_fault_recording_one_message_of_a_chunk_defers_that_message_alone(
        intake_ctx: IntakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    box = intake_ctx.mailbox
    for n in range(5):
        put(box, text_submission(**{"Reason for alert": f"Missing since yesterday (case {n})."}))
    ids = box.list_new()
    record = intake.record_decision

    def faulty(*args: Any) -> Any:
        if args[4] == ids[2]:  # the mailbox id: a bug that only this message meets
            raise RuntimeError("a fault")
        return record(*args)

    monkeypatch.setattr(intake, "record_decision", faulty)
    results = intake.process_batch(ids, intake_ctx)  # one chunk: written at once, then one by one
    assert [r.outcome for r in results] == ["accepted", "accepted", "deferred", "accepted", "accepted"]
    assert results[2].reason == "an unexpected RuntimeError"
    assert [r.reference for r in results if r.reference] == [f"HSA-2026-00000{n}" for n in (1, 2, 3, 4)]
    assert box.folder_counts()["INBOX"] == 1 and len(sent_subjects(intake_ctx)) == 4
    monkeypatch.undo()
    [later] = run(intake_ctx)  # the next run records it
    assert (later.mailbox_id, later.outcome, later.reference) == (ids[2], "accepted", "HSA-2026-000005")
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).select_from(InboundMessage)) == 5
        assert set(u.session.scalars(select(OutboxEntry.status))) == {"sent"}
        assert verify_session(u.session).ok


def test_a_copy_of_our_own_email_goes_to_sent_and_nothing_else_can_pass_for_one(
        intake_ctx: IntakeContext) -> None:
    """The IMAP adapter makes the mailbox a recipient of what it sends (so that an email sent just
    before a crash is seen to have gone); intake files such a copy with Sent, records nothing and
    answers nobody. Only a message from our address with the Message-ID of an email we sent is one."""
    put(intake_ctx.mailbox, xlsx_submission())
    run(intake_ctx)
    [reply] = [p.read_bytes() for p in intake_ctx.mailbox.list_folder(Folder.SENT)
               if subject_of(p.read_bytes()).endswith("awaiting approval")]
    ours = intake_ctx.config.settings.service.mailbox_address
    forged = reply.replace(message_from_bytes(reply)["Message-ID"].encode(), b"<made-up@example-icb.test>")
    sent_back = b"Resent-From: someone@uhcw.nhs.uk\r\n" + reply
    for raw in (reply, forged, sent_back):
        put(intake_ctx.mailbox, raw)
    with intake_ctx.uow() as u:
        before = u.session.scalar(select(func.count()).select_from(InboundMessage)) or 0
    results = {r.outcome for r in run(intake_ctx)}
    assert "own-copy" in results and len(results) == 2, results  # the other two were triaged as mail
    assert ours in reply.decode() and intake_ctx.mailbox.folder_counts()["INBOX"] == 0
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).select_from(InboundMessage)) == before + 2
    assert sum(subject_of(p.read_bytes()).endswith("awaiting approval")
               for p in intake_ctx.mailbox.list_folder(Folder.SENT)) == 2  # the reply, and its own copy
