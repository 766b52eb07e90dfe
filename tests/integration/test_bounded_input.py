"""Poison messages are bounded and answered (docs/bounded-input.md): a message that keeps failing is
quarantined after limits.max_deferrals runs with the admin team told, an attachment that overruns
its reader is quarantined and the reader started afresh for the next, and a chunk of large
messages is held a few at a time."""

from __future__ import annotations

from email import message_from_bytes
from typing import Any

import pytest

from safeguard.adapters.mail.port import TemporaryMailboxError
from safeguard.adapters.register.orm import IntakeDeferral
from safeguard.adapters.workbooks.ooxml import Limits as ZipLimits
from safeguard.adapters.workbooks.reader import ReaderLimits, reader_for
from safeguard.domain.config.models import Limits
from safeguard.domain.forms.document import OVERRAN
from safeguard.service_layer import intake
from safeguard.service_layer.intake import IntakeContext, byte_groups, process_batch
from tests import hostile
from tests.conftest import put, with_settings
from tests.factories import text_submission, xlsx_submission

REASON_TEXT = "Missing since yesterday (poison case)."


def deferral_count(ctx: IntakeContext, mailbox_id: str) -> int | None:
    with ctx.uow() as u:
        row = u.session.get(IntakeDeferral, mailbox_id)
        return row.count if row else None


def admin_emails(ctx: IntakeContext) -> list[bytes]:
    admin = ctx.config.settings.service.admin_team
    folder = ctx.mailbox.deliver_to / admin / "new"  # type: ignore[attr-defined]
    return [p.read_bytes() for p in folder.iterdir()] if folder.is_dir() else []


def test_a_message_deferred_three_times_is_quarantined_at_the_next_run_and_the_admin_team_told(
        intake_ctx: IntakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    box = intake_ctx.mailbox
    stuck = put(box, text_submission(**{"Reason for alert": REASON_TEXT}))
    record = intake.record_decision

    def faulty(*args: Any) -> Any:
        if args[3].reason != "deferred-repeatedly":  # a bug that this message meets every time
            raise RuntimeError("a fault")
        return record(*args)

    monkeypatch.setattr(intake, "record_decision", faulty)
    for run in (1, 2, 3):
        [result] = process_batch(box.list_new(), intake_ctx)
        assert (result.outcome, deferral_count(intake_ctx, stuck)) == ("deferred", run)
    [result] = process_batch(box.list_new(), intake_ctx)
    assert ((result.outcome, result.reason, result.folder)
            == ("quarantined", "deferred-repeatedly", "Quarantine"))
    assert box.list_new() == [] and box.folder_counts()["Quarantine"] == 1
    assert deferral_count(intake_ctx, stuck) is None  # recorded: the count is cleared
    [email] = admin_emails(intake_ctx)
    text = message_from_bytes(email).get_payload()[0].get_payload(decode=True).decode()
    assert "3 attempts" in text and REASON_TEXT not in text and "Tamsin" not in text


def test_a_message_that_can_never_be_fetched_is_quarantined_after_three_deferrals(
        intake_ctx: IntakeContext) -> None:
    box = intake_ctx.mailbox
    stuck = put(box, text_submission())
    real_fetch = box.fetch

    def flaky_fetch(mailbox_id: str) -> bytes | None:
        if mailbox_id == stuck:
            raise TemporaryMailboxError("the mail server went away")
        return real_fetch(mailbox_id)

    box.fetch = flaky_fetch  # type: ignore[method-assign]
    for _run in (1, 2, 3):
        assert [r.outcome for r in process_batch(box.list_new(), intake_ctx)] == ["deferred"]
    put(box, xlsx_submission())
    results = process_batch(box.list_new(), intake_ctx)
    assert sorted((r.outcome, r.reason) for r in results) == [("accepted", "valid"),
                                                              ("quarantined", "deferred-repeatedly")]
    assert box.list_new() == [] and len(admin_emails(intake_ctx)) == 1


def test_a_reader_that_overruns_is_killed_the_message_quarantined_and_the_next_form_answered(
        intake_ctx: IntakeContext) -> None:
    ctx = IntakeContext(with_settings(intake_ctx.config, limits=Limits(reader_seconds=0.3)),
                        intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    box = ctx.mailbox
    reader = reader_for(ReaderLimits(0.3, Limits().reader_memory_mb))
    put(box, xlsx_submission())
    process_batch(box.list_new(), ctx)  # the reader process starts
    first = reader._proc
    assert first is not None and first.poll() is None
    slow = put(box, hostile_submission(hostile.repeated_sheet_xlsx(1, pad_rows=150_000)))
    valid = put(box, xlsx_submission(**{"Reason for alert": "A second, genuine form."}))
    results = {r.mailbox_id: r for r in process_batch(box.list_new(), ctx)}
    assert (results[slow].outcome, results[slow].reason) == ("quarantined", "attachment-unreadable")
    assert (results[valid].outcome, results[valid].reason) == ("accepted", "valid")
    assert first.poll() is not None  # killed
    assert reader._proc is not None and reader._proc.pid != first.pid  # a new one read the next form
    assert len(admin_emails(ctx)) == 1


def hostile_submission(document: bytes) -> bytes:
    from tests.corpus.build import msg
    return msg(attachments=(("form.xlsx", document),))


def test_a_reader_that_runs_out_of_memory_answers_overran_and_the_next_reader_reads() -> None:
    reader = reader_for(ReaderLimits(30, 160))
    limits = ZipLimits(200 * 1024 * 1024, 1000)
    assert reader.read("xlsx", hostile.repeated_sheet_xlsx(1, pad_rows=400_000), limits, 1_000_000) == OVERRAN
    document = reader.read("xlsx", hostile.valid_xlsx(), limits, 2000)
    assert document.problem is None and [name for name, _grid in document.tables] == ["Instructions", "Form"]


def test_a_chunk_is_held_in_groups_of_at_most_chunk_mb() -> None:
    sizes = {"a": 30, "b": 30, "c": 50, "d": 200, "e": 10}
    assert byte_groups(list(sizes), sizes, 64) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert byte_groups(["x", "y"], {}, 64) == [["x", "y"]]


def test_a_chunk_of_large_messages_is_answered_a_group_at_a_time(intake_ctx: IntakeContext) -> None:
    ctx = IntakeContext(with_settings(intake_ctx.config, limits=Limits(chunk_mb=0.05, max_message_mb=0.2)),
                        intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    box = ctx.mailbox
    ids = [put(box, text_submission(**{"Reason for alert": f"Case {n}."}) + b" " * 30_000) for n in range(3)]
    huge = put(box, text_submission() + b" " * 300_000)  # over max_message_mb: only its head is read
    results = {r.mailbox_id: r for r in process_batch(box.list_new(), ctx)}
    assert [results[m].outcome for m in ids] == ["accepted"] * 3
    assert (results[huge].outcome, results[huge].reason) == ("quarantined", "malformed")
    assert box.list_new() == [] and len(admin_emails(ctx)) == 1
