"""Bounces on the Maildir adapter, against SQLite and PostgreSQL: a bounce of a notice we sent
fails that provider's delivery and tells the admin team at once; anything else changes nothing;
a failed delivery is not chased, is listed by the reconciliation and counted by the activity
return, and still gets a withdrawal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from safeguard.adapters.mail.port import Folder
from safeguard.adapters.register.orm import Delivery, OutboxEntry
from safeguard.adapters.returns.activity import load_activity
from safeguard.domain.calendar import WorkingDays
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.reconcile import reconcile
from safeguard.service_layer.reminders import due_reminders
from tests.conftest import TODAY, put
from tests.factories import SW
from tests.integration.test_lifecycle import SWFT, UHCW, email, held_by, run, submit_and_approve
from tests.samples.build import POSTFIX_BOUNCE, delayed_dsn, exchange_online_ndr
from tests.withdrawals import approve_withdrawal

ADMIN_SUBJECT = "could not be delivered (5.1.10): phone the provider today"


def notice_id(ctx: IntakeContext, code: str) -> str:
    with ctx.uow() as u:
        return u.session.scalars(select(OutboxEntry.message_id).where(
            OutboxEntry.kind == "notice:alert", OutboxEntry.key.contains(f":{code}:"))).one()


def delivery(ctx: IntakeContext, code: str) -> tuple[str, str | None, bool]:
    with ctx.uow() as u:
        d = u.session.scalars(select(Delivery).where(Delivery.provider_code == code)).one()
        return d.status, d.failure, d.failed_at is not None


def outbox(ctx: IntakeContext, message_id: str) -> tuple[str, str | None]:
    with ctx.uow() as u:
        e = u.session.scalars(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).one()
        return e.status, e.last_error


def admin_told(ctx: IntakeContext) -> list[str]:
    return [s for s in held_by(ctx, ctx.config.settings.service.admin_team) if ADMIN_SUBJECT in s]


def test_a_bounced_notice_fails_the_delivery_and_the_admin_team_is_told_at_once(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    mid = notice_id(intake_ctx, "UHCW")
    put(intake_ctx.mailbox, exchange_online_ndr(mid, UHCW))
    [result] = run(intake_ctx)
    assert ((result.outcome, result.reason, result.reference, result.folder)
            == ("recorded", "bounce", ref, "Processed"))
    status, failure, failed_at = delivery(intake_ctx, "UHCW")
    assert ((status, failed_at) == ("failed", True) and failure is not None
            and failure.startswith("bounced: 5.1.10 550"))
    assert outbox(intake_ctx, mid)[0] == "failed" and "5.1.10" in (outbox(intake_ctx, mid)[1] or "")
    assert delivery(intake_ctx, "SWFT")[0] == "notified"
    assert admin_told(intake_ctx) == [f"{ref}: the alert notice to University Hospitals Coventry and "
                                      f"Warwickshire NHS Trust (UHCW) {ADMIN_SUBJECT}"]
    assert (intake_ctx.mailbox.folder_counts()["Processed"] == 2
            and intake_ctx.mailbox.folder_counts()["INBOX"] == 0)
    root = intake_ctx.mailbox.deliver_to  # type: ignore[attr-defined]
    # a bounce is never answered
    assert not any("microsoftexchange" in p.name.lower() for p in root.iterdir())


def test_the_same_bounce_twice_tells_the_admin_team_once(intake_ctx: IntakeContext) -> None:
    submit_and_approve(intake_ctx)
    mid = notice_id(intake_ctx, "UHCW")
    put(intake_ctx.mailbox, exchange_online_ndr(mid, UHCW))
    # another report
    put(intake_ctx.mailbox, exchange_online_ndr(mid, UHCW).replace(b"9f0c1a2b", b"9f0c1a2c"))
    results = run(intake_ctx)
    assert [r.reason for r in results] == ["bounce", "bounce"]
    assert len(admin_told(intake_ctx)) == 1


def test_a_bounce_about_no_email_of_ours_changes_nothing(intake_ctx: IntakeContext) -> None:
    submit_and_approve(intake_ctx)
    sent_before = intake_ctx.mailbox.folder_counts()["Sent"]
    # a real bounce, of an email this register never sent
    put(intake_ctx.mailbox, POSTFIX_BOUNCE.read_bytes())
    put(intake_ctx.mailbox, exchange_online_ndr("<guessed@example-icb.test>", UHCW))
    assert [(r.outcome, r.reason) for r in run(intake_ctx)] == [("recorded", "bounce-unmatched")] * 2
    assert delivery(intake_ctx, "UHCW")[0] == "notified"
    assert intake_ctx.mailbox.folder_counts()["Sent"] == sent_before  # no reply, no admin email


def test_a_delay_report_about_our_notice_changes_nothing(intake_ctx: IntakeContext) -> None:
    submit_and_approve(intake_ctx)
    mid = notice_id(intake_ctx, "UHCW")
    put(intake_ctx.mailbox, delayed_dsn(mid, UHCW))
    assert [(r.outcome, r.reason) for r in run(intake_ctx)] == [("recorded", "bounce-delayed")]
    assert delivery(intake_ctx, "UHCW")[0] == "notified" and outbox(intake_ctx, mid)[0] == "sent"
    assert admin_told(intake_ctx) == []


def test_a_failed_delivery_is_not_chased_but_is_reconciled_and_counted(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    put(intake_ctx.mailbox, exchange_online_ndr(notice_id(intake_ctx, "UHCW"), UHCW))
    run(intake_ctx)
    with intake_ctx.uow() as u:
        due = list(due_reminders(u.register, intake_ctx.config, WorkingDays(), TODAY + timedelta(days=30)))
        chased = {d.recipients for d in due if d.kind in ("provider-chase", "provider-escalation")
                  and d.reference == ref and d.kind == "provider-chase"}
        report = reconcile(u.register, intake_ctx.mailbox, intake_ctx.config, intake_ctx.clock())
        activity = load_activity(u.session, intake_ctx.config, "2026-11")
    assert chased == {(SWFT,)}
    failed = [f for f in report.findings if f.check == "delivery-failed"]
    assert [(f.subject, f.detail.split(":")[0]) for f in failed] == [(ref, "UHCW")]
    assert report.counts()["delivery-failed"] == 1
    not_delivered = activity.by_provider.set_index("Provider")["Not delivered"].to_dict()
    assert not_delivered == {"SWFT: South Warwickshire University NHS Foundation Trust": 0,
                             "UHCW: University Hospitals Coventry and Warwickshire NHS Trust": 1}


def test_a_provider_whose_notice_bounced_is_still_sent_the_withdrawal(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    put(intake_ctx.mailbox, exchange_online_ndr(notice_id(intake_ctx, "UHCW"), UHCW))
    run(intake_ctx)
    email(intake_ctx, SW, f"WITHDRAW {ref}", "Reason: Found\n")
    [result] = run(intake_ctx)
    assert result.reason == "withdraw-requested"
    # the safeguarding team's decision, as the decision run would record it
    approve_withdrawal(intake_ctx, ref)
    assert any("WITHDRAWN" in s.upper() for s in held_by(intake_ctx, UHCW)[1:]), held_by(intake_ctx, UHCW)
    assert delivery(intake_ctx, "UHCW")[0] == "withdrawn"


def test_the_bounce_is_filed_where_the_register_says(intake_ctx: IntakeContext) -> None:
    submit_and_approve(intake_ctx)
    put(intake_ctx.mailbox, exchange_online_ndr(notice_id(intake_ctx, "SWFT"), SWFT))
    [result] = run(intake_ctx)
    assert result.folder == "Processed" and len(intake_ctx.mailbox.message_ids(Folder.PROCESSED)) == 2
