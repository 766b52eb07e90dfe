"""Withdrawal is actioned by the safeguarding team: a WITHDRAW from the social worker or team manager
on record waits for a decision; approved, each provider holding the alert is told once; declined, the
alert stays active; with withdrawal_needs_approval false it is immediate and both people on record are
told; a withdrawn alert can be reinstated. Maildir, against SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.orm import Alert, AuditEntry, Delivery, WithdrawalRequest
from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.withdrawal import WithdrawalAnswer
from safeguard.service_layer.withdrawal_dispatch import (
    give_reinstatement,
    give_withdrawal_decision,
    withdrawal_form,
)
from testkit import samples
from tests.conftest import NOW, put, subject_of, with_settings
from tests.factories import INBOX, SW, TM, xlsx_submission
from tests.withdrawals import approve_withdrawal, decline_withdrawal

UHCW, SWFT, GEH = "safeguarding@uhcw.test", "safeguarding.team@swft.test", "safeguarding@geh.test"
CANCELLED = "{ref}: WITHDRAWAL CANCELLED for {code}: flag the health alert again"


def run(ctx: IntakeContext) -> list:
    return [process_message(mid, ctx) for mid in ctx.mailbox.list_new()]


def held_by(ctx: IntakeContext, address: str) -> list[str]:
    root: Path = ctx.mailbox.deliver_to / address  # type: ignore[attr-defined, operator]
    paths = sorted((root / "new").glob("*"), key=lambda p: p.stat().st_mtime_ns) if root.exists() else []
    return [subject_of(p.read_bytes()) for p in paths]


def text_held_by(ctx: IntakeContext, address: str) -> list[str]:
    root: Path = ctx.mailbox.deliver_to / address  # type: ignore[attr-defined, operator]
    return [message_from_bytes(p.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for p in sorted((root / "new").glob("*"), key=lambda p: p.stat().st_mtime_ns)]


def withdraw_by_email(ctx: IntakeContext, ref: str, sender: str = SW, reason: str = "Found") -> list:
    put(ctx.mailbox, samples.submission(sender, INBOX, subject=f"WITHDRAW {ref}", body=f"Reason: {reason}\n"))
    return run(ctx)


def submit_and_approve(ctx: IntakeContext, **form: str) -> str:
    put(ctx.mailbox, xlsx_submission(**form))
    [result] = run(ctx)
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, result.reference)
    return result.reference


def requests(ctx: IntakeContext) -> list[tuple[str, str]]:
    with ctx.uow() as u:
        return [(r.kind, r.status)
                for r in u.session.scalars(select(WithdrawalRequest).order_by(WithdrawalRequest.id))]


def alert_status(ctx: IntakeContext) -> str:
    with ctx.uow() as u:
        return u.session.scalars(select(Alert)).one().status


def test_a_withdraw_from_the_social_worker_waits_for_the_team_and_tells_the_sender_so(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    [result] = withdraw_by_email(intake_ctx, ref)
    assert (result.outcome, result.reason) == ("recorded", "withdraw-requested")
    assert requests(intake_ctx) == [("withdraw", "pending")] and alert_status(intake_ctx) == "ACTIVE"
    assert held_by(intake_ctx, UHCW) == [f"{ref}: HEALTH ALERT for UHCW: Missing child (URGENT)"]
    assert held_by(intake_ctx, SW)[-1] == f"{ref}: withdrawal request received"
    receipt = text_held_by(intake_ctx, SW)[-1]
    assert f"Your request to withdraw {ref} has reached the safeguarding team, who will action it." in receipt
    assert "Until then the alert stays active" in receipt


def test_a_second_withdraw_while_one_waits_makes_no_second_request(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    withdraw_by_email(intake_ctx, ref)
    [again] = withdraw_by_email(intake_ctx, ref, sender=TM, reason="Resolved")
    assert (again.outcome, again.reason) == ("recorded", "withdraw-requested")
    assert requests(intake_ctx) == [("withdraw", "pending")]
    assert "is already with the safeguarding team" in text_held_by(intake_ctx, TM)[-1]


def test_approval_sends_each_holding_provider_one_withdrawal_notice_and_tells_the_requester(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    withdraw_by_email(intake_ctx, ref, sender=TM)
    outcome = approve_withdrawal(intake_ctx, ref)
    assert (outcome.decision, sorted(outcome.notices)) == ("approved", ["SWFT", "UHCW"])
    with pytest.raises(DecisionRefused, match="already approved by Dana Nightingale"):
        give_withdrawal_decision(intake_ctx, ref, WithdrawalAnswer(True, "Sam Okafor"))
    send_alert_email(intake_ctx, ref)
    for address, code in ((UHCW, "UHCW"), (SWFT, "SWFT")):
        assert held_by(intake_ctx, address).count(f"{ref}: health alert WITHDRAWN for {code}") == 1
    assert held_by(intake_ctx, GEH) == []
    assert held_by(intake_ctx, TM)[-1] == f"{ref}: withdrawn"
    assert requests(intake_ctx) == [("withdraw", "approved")] and alert_status(intake_ctx) == "WITHDRAWN"
    with intake_ctx.uow() as u:
        assert {d.status for d in u.session.scalars(select(Delivery))} == {"withdrawn"}
        actions = [(e.actor, e.action) for e in u.session.scalars(select(AuditEntry))]
        assert ("Dana Nightingale", "withdrawal approved") in actions and verify_session(u.session).ok


def test_a_decline_needs_a_reason_tells_the_requester_and_keeps_the_alert_active(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    withdraw_by_email(intake_ctx, ref)
    with pytest.raises(DecisionRefused, match="Give a reason for declining"):
        give_withdrawal_decision(intake_ctx, ref, WithdrawalAnswer(False, "Dana Nightingale", " "))
    outcome = decline_withdrawal(intake_ctx, ref, "The child is still missing per police.")
    assert (outcome.decision, outcome.notices) == ("declined", [])
    assert held_by(intake_ctx, SW)[-1] == f"{ref}: withdrawal not actioned, the alert stays active"
    assert "The child is still missing per police." in text_held_by(intake_ctx, SW)[-1]
    assert len(held_by(intake_ctx, UHCW)) == 1 and alert_status(intake_ctx) == "ACTIVE"
    withdraw_by_email(intake_ctx, ref)  # a new request can be made once the first is decided
    assert requests(intake_ctx) == [("withdraw", "declined"), ("withdraw", "pending")]


def test_the_decision_form_shows_fixed_reasons_and_the_providers_but_no_free_text(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    assert withdrawal_form(intake_ctx, ref) is None
    withdraw_by_email(intake_ctx, ref, reason="Baby born")
    found = withdrawal_form(intake_ctx, ref)
    assert (found is not None and found.reason == "Baby born"
            and found.requested_by == "the social worker on record")
    decline_withdrawal(intake_ctx, ref, "Wait for the discharge.")
    withdraw_by_email(intake_ctx, ref, reason="Other: moved to Wraithmoor Lane with her aunt")
    other = withdrawal_form(intake_ctx, ref)
    assert other is not None
    text = other.markdown()
    assert "Other (see the register)" in text and "Wraithmoor" not in text and "tamsin" not in text.lower()
    assert "- UHCW: University Hospitals Coventry and Warwickshire NHS Trust" in text and "- SWFT: " in text


def test_with_approval_not_needed_it_is_immediate_and_both_people_on_record_are_told(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    service = intake_ctx.config.settings.service.model_copy(update={"withdrawal_needs_approval": False})
    ctx = IntakeContext(with_settings(intake_ctx.config, service=service), intake_ctx.mailbox, intake_ctx.uow,
                        intake_ctx.clock)
    withdraw_by_email(ctx, ref, sender=TM)
    assert alert_status(ctx) == "WITHDRAWN" and requests(ctx) == []
    assert held_by(ctx, UHCW)[-1] == f"{ref}: health alert WITHDRAWN for UHCW"
    told = f"{ref}: alert withdrawn at the request of {TM}"
    assert held_by(ctx, SW).count(told) == 1 and held_by(ctx, TM).count(told) == 1
    assert ("contact safeguarding-admin@example-icb.test at once"
            in " ".join(text_held_by(ctx, SW)[-1].split()))


def test_reinstating_tells_each_provider_told_of_the_withdrawal_once_and_no_other(
        intake_ctx: IntakeContext) -> None:
    moments = iter(NOW + timedelta(minutes=n) for n in range(1000))
    now = [next(moments)]
    intake_ctx = IntakeContext(intake_ctx.config, intake_ctx.mailbox, intake_ctx.uow, lambda: now[0])
    ref = submit_and_approve(intake_ctx)
    put(intake_ctx.mailbox, xlsx_submission(**{"Alert reference": ref, "Providers to alert": "UHCW, GEH"}))
    run(intake_ctx)
    # SWFT withdrawn by the update
    give_decision(intake_ctx, ref, 2, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(intake_ctx, ref)
    now[0] = next(moments)
    withdraw_by_email(intake_ctx, ref)
    approve_withdrawal(intake_ctx, ref)
    outcome = give_reinstatement(intake_ctx, ref, "Sam Okafor",
                                 "Withdrawn in error: the child is still missing.")
    send_alert_email(intake_ctx, ref)
    assert sorted(outcome.notices) == ["GEH", "UHCW"]
    for address, code in ((UHCW, "UHCW"), (GEH, "GEH")):
        assert held_by(intake_ctx, address).count(CANCELLED.format(ref=ref, code=code)) == 1
        assert held_by(intake_ctx, address)[-1] == CANCELLED.format(ref=ref, code=code)
    assert not any("CANCELLED" in s for s in held_by(intake_ctx, SWFT))
    assert samples.SUBJECT_SURNAME in text_held_by(intake_ctx, UHCW)[-1]  # the details, to flag again
    with intake_ctx.uow() as u:
        assert u.session.scalars(select(Alert)).one().status == "ACTIVE"
        statuses = {d.provider_code: (d.status, d.acknowledged_at)
                    for d in u.session.scalars(select(Delivery))}
        assert statuses == {"UHCW": ("notified", None), "GEH": ("notified", None),
                            "SWFT": ("withdrawn", None)}
        assert ("Sam Okafor", "alert reinstated") in [(e.actor, e.action)
                                                        for e in u.session.scalars(select(AuditEntry))]
    with pytest.raises(DecisionRefused,
                       match=f"{ref} is active, not withdrawn, so there is nothing to reinstate"):
        give_reinstatement(intake_ctx, ref, "Sam Okafor", "again")
    # withdrawn again after the reinstatement: new notices, not taken as retries
    withdraw_by_email(intake_ctx, ref)
    approve_withdrawal(intake_ctx, ref)
    assert held_by(intake_ctx, UHCW).count(f"{ref}: health alert WITHDRAWN for UHCW") == 2


def test_an_alert_withdrawn_before_it_was_sent_cannot_be_reinstated(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    withdraw_by_email(intake_ctx, result.reference)
    approve_withdrawal(intake_ctx, result.reference)
    with pytest.raises(DecisionRefused, match="withdrawn before any provider was sent it"):
        give_reinstatement(intake_ctx, result.reference, "Sam Okafor", "error")
