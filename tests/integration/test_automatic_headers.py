"""Every email we send says it is automatic twice over: Auto-Submitted (RFC 3834) for well-behaved
responders, and X-Auto-Response-Suppress: All for Exchange and Outlook, which ignore the first and
would otherwise answer a notice with an out-of-office reply."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.main import main
from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.mail.port import Folder
from safeguard.adapters.register.orm import OutboxEntry
from safeguard.domain.calendar import WorkingDays
from safeguard.service_layer.dispatch import record_approval_run
from safeguard.service_layer.failures import report_failed_run
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.reconcile import run_reconciliation
from safeguard.service_layer.reminders import run_reminders
from safeguard.service_layer.sending import send_unsent
from testkit import samples
from tests.conftest import ROOT, put
from tests.factories import INBOX, SW, text_submission, xlsx_submission
from tests.reconcile_seed import clean_register


def automatic(raw: bytes) -> tuple[str | None, str | None]:
    msg: Message = message_from_bytes(raw)
    return msg["Auto-Submitted"], msg["X-Auto-Response-Suppress"]


def test_every_kind_of_email_a_lifecycle_sends_carries_both_automatic_headers(
        intake_ctx: IntakeContext) -> None:
    ctx = intake_ctx
    clean_register(ctx)  # two alerts approved and dispatched, one withdrawn: replies and notices
    put(ctx.mailbox, text_submission(**{"Date of birth": "not a date"}))  # a form sent back to fix
    # quarantined: admin told
    put(ctx.mailbox, samples.submission("stranger@unknown.test", INBOX, body="hello\n"))
    put(ctx.mailbox, samples.submission(SW, INBOX, subject="RE: HSA-2026-000001", body="Thanks.\n"))
    put(ctx.mailbox, xlsx_submission())  # urgent: the approvers are emailed a link to the approval run
    results = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    [waiting] = [r.reference for r in results if r.outcome == "accepted"]
    assert record_approval_run(ctx, waiting, 1, "run-0")
    run_reminders(ctx.uow, ctx.config, WorkingDays(), ctx.clock() + timedelta(days=30))  # chases and reviews
    send_unsent(ctx)
    run_reconciliation(ctx)
    report_failed_run(ctx, "intake", "brave-otter", "run-1")
    with ctx.uow() as u:
        entries = [(e.kind, e.raw) for e in u.session.scalars(select(OutboxEntry))]
    kinds = {kind for kind, _ in entries}
    assert {"reply:submission_received", "reply:form_invalid", "reply:withdrawal_requested",
            "reply:alert_dispatched", "notice:alert", "notice:withdrawal", "reminder:provider-chase",
            "reminder:review-passed",
            "admin:approval-needed", "admin:quarantine", "admin:digest", "admin:flow-failed"} <= kinds, kinds
    replies = {kind for kind, raw in entries if automatic(raw)[0] == "auto-replied"}
    assert replies and all(k.startswith("reply:") for k in replies)  # answers to a message (RFC 3834)
    for kind, raw in entries:
        assert automatic(raw) in {("auto-generated", "All"), ("auto-replied", "All")}, kind
    assert isinstance(ctx.mailbox, MaildirMailbox)
    sent = [automatic(p.read_bytes()) for p in ctx.mailbox.list_folder(Folder.SENT)]
    assert len(sent) == len(entries) and {suppress for _, suppress in sent} == {"All"}


def test_the_mailbox_check_message_carries_both_automatic_headers(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    monkeypatch.delenv("SAFEGUARD_DELIVER_TO", raising=False)
    monkeypatch.chdir(ROOT)
    assert main(["mailbox", "check"]) == 0
    [path] = MaildirMailbox(tmp_path / "mail", INBOX).list_folder(Folder.SENT)
    assert automatic(path.read_bytes()) == ("auto-generated", "All")
