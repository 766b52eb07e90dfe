"""A register and Maildir with exactly one discrepancy of each kind reconciliation looks for."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.mail.port import Folder
from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import (
    Alert,
    AuditEntry,
    Delivery,
    InboundMessage,
    OutboxEntry,
    ProviderDigest,
)
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.replies import sender_of
from testkit import samples
from tests.factories import INBOX, SW, xlsx_submission
from tests.withdrawals import approve_withdrawal


def _intake(ctx: IntakeContext) -> list:
    return [process_message(m, ctx) for m in ctx.mailbox.list_new()]


def clean_register(ctx: IntakeContext) -> list[str]:
    """Two approved alerts, one of them properly withdrawn: nothing to report."""
    refs = []
    for _ in range(2):
        deliver(ctx.mailbox.root, xlsx_submission())  # type: ignore[attr-defined]
        [result] = _intake(ctx)
        give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
        send_alert_email(ctx, result.reference)
        refs.append(result.reference)
    deliver(ctx.mailbox.root,  # type: ignore[attr-defined]
            samples.submission(SW, INBOX, subject=f"WITHDRAW {refs[1]}", body="Reason: Found\n"))
    _intake(ctx)
    approve_withdrawal(ctx, refs[1])
    return refs


def seed_every_discrepancy(ctx: IntakeContext) -> IntakeContext:
    """Returns a context whose directory no longer lists SWFT (the directory-changed case)."""
    box = ctx.mailbox
    assert isinstance(box, MaildirMailbox)
    active, withdrawn = clean_register(ctx)
    deliver(box.root / ".Processed",
            samples.submission("x@coventry-council.test", INBOX, body="filed by hand\n"))
    with ctx.uow() as u:
        rows = u.session.scalars(select(InboundMessage).where(InboundMessage.folder == "Processed")
                                 .order_by(InboundMessage.id)).all()
        gone, back = rows[0], rows[1]
        back.filed_at = None
        sent = u.session.scalars(select(OutboxEntry).where(OutboxEntry.status == "sent")
                                 .order_by(OutboxEntry.id)).first()
        queue_email(u.register, key="stuck", kind="reply:test", sender=sender_of(ctx.config),
                    rendered=render_email("admin_attention", service=ctx.config.settings.service,
                                          alert=u.register.alert(active), headline="x", lines=[]),
                    recipients=[SW], at=ctx.clock() - timedelta(hours=2))
        alert = u.register.alert(withdrawn)
        u.session.scalars(select(Delivery).where(Delivery.alert_id == alert.id)).first().status = "notified"
        u.register.alert(active).review_date = ctx.clock().date() - timedelta(days=1)
        bounced = u.session.scalars(select(Delivery).where(Delivery.alert_id == u.register.alert(active).id,
                                                           Delivery.provider_code == "UHCW")).one()
        bounced.status, bounced.failure = "failed", "bounced: 5.1.1 550 5.1.1 User unknown"
        u.register.add(ProviderDigest(reference="HSA-DIGEST-2026W48-GEH", provider_code="GEH",
                                      mailbox="safeguarding@geh.test", active=[], withdrawn=[],
                                      sent_at=ctx.clock() - timedelta(days=3), escalated_at=ctx.clock()))
        gone_mid, back_mid, sent_mid = gone.message_id, back.message_id, sent.message_id
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone else"))
        u.commit()
    back_name = ""
    for path in box.list_folder(Folder.PROCESSED):
        text = path.read_bytes()
        if gone_mid.encode() in text:
            path.unlink()
        elif back_mid.encode() in text:
            back_name = path.name.split(":")[0]
            os.replace(path, Path(box.root) / "new" / back_name)
    for path in box.list_folder(Folder.SENT):
        if sent_mid.encode() in path.read_bytes():
            path.unlink()
    deliver(box.root / ".Sent",
            b"Message-ID: <" + b"a" * 40 + b"@example-icb.test>\r\nSubject: x\r\n\r\nx\r\n")
    late = IntakeContext(ctx.config, box, ctx.uow, lambda: ctx.clock() - timedelta(hours=5))
    deliver(box.root, xlsx_submission(**{"Providers to alert": "GEH"}))
    [waiting] = [process_message(m, late) for m in box.list_new() if m != back_name]
    assert waiting.outcome == "accepted"
    # INBOX mail is aged by its file's time against the reconciling clock: the fixed clock here, the
    # real one in the Prefect flow. The recorded-not-filed message is fresh by both, the stuck one
    # stale by both.
    real_now = datetime.now(UTC)
    back_at = max(ctx.clock(), real_now).timestamp()
    os.utime(Path(box.root) / "new" / back_name, (back_at, back_at))
    stuck_at = (min(ctx.clock(), real_now) - timedelta(
        minutes=ctx.config.settings.limits.inbox_stale_minutes + 30)).timestamp()
    os.utime(deliver(box.root, samples.submission(SW, INBOX, body="stuck\n")), (stuck_at, stuck_at))
    config = ctx.config
    trimmed = config.model_copy(update={"providers": [p for p in config.providers if p.code != "SWFT"]})
    with ctx.uow() as u:
        assert u.session.scalars(select(Alert)).all()
    return IntakeContext(trimmed, box, ctx.uow, ctx.clock)
