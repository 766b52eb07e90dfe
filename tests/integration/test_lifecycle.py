"""The alert lifecycle on the Maildir adapter, against SQLite and PostgreSQL: approve, dispatch,
acknowledge, update, extend, withdraw, reject, and the bad input around each."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.orm import Alert, Delivery
from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
from safeguard.service_layer.dispatch import approval_summary, give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from testkit import samples
from tests.conftest import put, subject_of
from tests.factories import INBOX, SW, TM, xlsx_submission
from tests.withdrawals import approve_withdrawal

UHCW, SWFT, GEH = "safeguarding@uhcw.test", "safeguarding.team@swft.test", "safeguarding@geh.test"

DANA = "Dana Nightingale"  # a listed approver (config/settings.yaml)


def run(ctx: IntakeContext) -> list:
    return [process_message(mid, ctx) for mid in ctx.mailbox.list_new()]


def held_by(ctx: IntakeContext, address: str) -> list[str]:
    """Subjects of what one address has been delivered, oldest first."""
    root: Path = ctx.mailbox.deliver_to / address  # type: ignore[attr-defined, operator]
    paths = sorted((root / "new").glob("*"), key=lambda p: p.stat().st_mtime_ns) if root.exists() else []
    return [subject_of(p.read_bytes()) for p in paths]


def email(ctx: IntakeContext, sender: str, subject: str, body: str = "") -> None:
    put(ctx.mailbox, samples.submission(sender, INBOX, subject=subject, body=body or "See subject.\n"))


def submit_and_approve(ctx: IntakeContext, **form: str) -> str:
    put(ctx.mailbox, xlsx_submission(**form))
    [result] = run(ctx)
    assert result.outcome == "accepted"
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, result.reference)
    return result.reference


def test_approval_sends_one_notice_to_each_listed_provider_and_nobody_else(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    assert held_by(intake_ctx, UHCW) == [f"{ref}: HEALTH ALERT for UHCW: Missing child (URGENT)"]
    assert held_by(intake_ctx, SWFT) == [f"{ref}: HEALTH ALERT for SWFT: Missing child (URGENT)"]
    assert held_by(intake_ctx, GEH) == []
    assert held_by(intake_ctx, SW)[-1] == f"{ref}: approved and providers told"
    with intake_ctx.uow() as u:
        alert = u.session.scalars(select(Alert)).one()
        assert alert.status == "ACTIVE" and alert.dispatched_at is not None
        assert sorted(d.provider_code for d in u.session.scalars(select(Delivery))) == ["SWFT", "UHCW"]
        assert verify_session(u.session).ok


def test_the_notice_carries_what_a_hospital_needs_and_escapes_html(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx, **{"Action requested if seen": "Call 999 <b>now</b> & the EDT."})
    path = next((intake_ctx.mailbox.deliver_to / UHCW / "new").glob("*"))  # type: ignore[operator]
    from email import message_from_bytes, policy
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for needed in (ref, samples.SUBJECT_SURNAME, "943 476 5919", "Looked after (s31)", "024 7683 2222",
                   "Call 999 <b>now</b> & the EDT.", "TO ACKNOWLEDGE", "Tamsin Holloway"):
        assert needed in text
    assert "Call 999 &lt;b&gt;now&lt;/b&gt; &amp; the EDT." in html and "<b>now</b>" not in html
    assert msg["Auto-Submitted"] == "auto-generated" and samples.SUBJECT_SURNAME not in msg["Subject"]


def test_the_approval_summary_shows_the_minimum_and_no_personal_data(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission(**{"Providers to alert": "UHCW, SWFT, GEH, CWPT, WMAS, BHAM"}))
    [result] = run(intake_ctx)
    summary = approval_summary(intake_ctx, result.reference, 1)
    assert summary is not None
    text = summary.markdown()
    assert "Child ZAQ (13-15)" in text and "Mother PQ (25-64)" in text and "Coventry City Council" in text
    assert "6 providers requested" in text and "BHAM has a mailbox on bwc-example.test" in text
    for personal in (samples.SUBJECT_SURNAME, "Zephyrine", samples.CHILD_NHS, "Nowhere", "CV1 5FB", "1985"):
        assert personal not in text


def test_an_approver_may_leave_providers_out_but_never_add_one(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    with pytest.raises(DecisionRefused, match="can only leave out providers the form lists"):
        give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, DANA, leave_out=("GEH",)))
    give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, DANA, leave_out=("swft",)))
    send_alert_email(intake_ctx, result.reference)
    assert len(held_by(intake_ctx, UHCW)) == 1 and held_by(intake_ctx, SWFT) == [] == held_by(intake_ctx, GEH)


@pytest.mark.parametrize(("reference", "request_", "code"), [
    ("HSA-2026-999999", ApprovalRequest(True, "Dana Nightingale"), "unknown-alert"),
    ("HSA-2026-000001", ApprovalRequest(False, "Dana Nightingale", reason=" "), "no-reason"),
    ("HSA-2026-000001", ApprovalRequest(True, "Anyone At All"), "not-an-approver"),
    ("HSA-2026-000001", ApprovalRequest(True, DANA, leave_out=("UHCW", "SWFT")), "no-providers"),
])
def test_a_bad_decision_is_refused_in_plain_words_and_changes_nothing(
        intake_ctx: IntakeContext, reference: str, request_: ApprovalRequest, code: str) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    run(intake_ctx)
    with pytest.raises(DecisionRefused) as refused:
        give_decision(intake_ctx, reference, None, request_)
    assert refused.value.code == code and "Traceback" not in refused.value.message
    with intake_ctx.uow() as u:
        assert u.session.scalars(select(Alert)).one().status == "AWAITING_APPROVAL"


def test_a_decision_on_an_alert_already_decided_is_refused(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    with pytest.raises(DecisionRefused, match="already approved by Dana Nightingale"):
        give_decision(intake_ctx, ref, 1, ApprovalRequest(False, "Someone Else", reason="no"))


def test_rejection_tells_the_sender_why_and_how_to_resubmit(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    give_decision(intake_ctx, result.reference, 1,
                  ApprovalRequest(False, DANA, reason="The case discussion has not happened yet."))
    send_alert_email(intake_ctx, result.reference)
    reply = sorted((intake_ctx.mailbox.deliver_to / SW / "new").glob("*"))  # type: ignore[operator]
    texts = [p.read_bytes().decode() for p in reply]
    assert any("The case discussion has not happened yet." in t and "send the form again" in t for t in texts)
    assert held_by(intake_ctx, UHCW) == []
    with intake_ctx.uow() as u:
        assert u.session.scalars(select(Alert)).one().status == "REJECTED"


def test_acknowledgement_marks_that_providers_delivery(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    email(intake_ctx, UHCW, f"RE: {ref}: HEALTH ALERT for UHCW")
    email(intake_ctx, "someone@unlisted-hospital.test", f"RE: {ref}")
    email(intake_ctx, GEH, f"RE: {ref}")  # a listed provider that was never sent this alert
    outcomes = sorted((r.outcome, r.reason) for r in run(intake_ctx))
    assert outcomes == [("quarantined", "provider-not-notified"), ("quarantined", "unauthorised-sender"),
                        ("recorded", "acknowledged")]
    with intake_ctx.uow() as u:
        acked = {d.provider_code: d.acknowledged_at is not None for d in u.session.scalars(select(Delivery))}
    assert acked == {"UHCW": True, "SWFT": False}


def test_withdrawal_reaches_every_provider_that_holds_the_alert_once(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    email(intake_ctx, SW, f"WITHDRAW {ref}", "Reason: Found\n")
    run(intake_ctx)
    approve_withdrawal(intake_ctx, ref)
    assert held_by(intake_ctx, UHCW)[-1] == f"{ref}: health alert WITHDRAWN for UHCW"
    assert held_by(intake_ctx, SWFT)[-1] == f"{ref}: health alert WITHDRAWN for SWFT"
    assert held_by(intake_ctx, SW)[-1] == f"{ref}: withdrawn"
    email(intake_ctx, SW, f"WITHDRAW {ref}", "Reason: Found\n")  # again: refused, nothing sent
    [again] = run(intake_ctx)
    assert (again.outcome, again.reason) == ("invalid", "already-withdrawn")
    assert len(held_by(intake_ctx, UHCW)) == 2 and len(held_by(intake_ctx, SWFT)) == 2
    with intake_ctx.uow() as u:
        assert {d.status for d in u.session.scalars(select(Delivery))} == {"withdrawn"}


def test_withdrawal_or_extension_from_anyone_else_is_quarantined(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    email(intake_ctx, "someone.else@coventry-council.test", f"WITHDRAW {ref}", "Reason: Found\n")
    email(intake_ctx, SW, "WITHDRAW HSA-2026-000999", "Reason: Found\n")
    results = sorted((r.outcome, r.reason) for r in run(intake_ctx))
    assert results == [("invalid", "unknown-reference"), ("quarantined", "not-on-record")]
    assert len(held_by(intake_ctx, UHCW)) == 1


def test_extension_within_the_maximum_lifetime_tells_the_providers(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    email(intake_ctx, TM, f"EXTEND {ref} to 2027-01-20")
    email(intake_ctx, SW, f"EXTEND {ref} to 2027-12-31")
    results = [(r.outcome, r.reason) for r in run(intake_ctx)]
    assert sorted(results) == [("invalid", "extend-too-long"), ("recorded", "extend-requested")]
    assert held_by(intake_ctx, UHCW)[-1] == f"{ref}: health alert EXTENDED for UHCW to 20/01/2027"
    with intake_ctx.uow() as u:
        assert str(u.session.scalars(select(Alert)).one().review_date) == "2027-01-20"


def test_an_update_removing_one_provider_and_adding_another(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    put(intake_ctx.mailbox, xlsx_submission(**{"Alert reference": ref, "Providers to alert": "UHCW, GEH",
                                               "Legal status": "Child protection plan"}))
    [update] = run(intake_ctx)
    assert (update.outcome, update.reason) == ("recorded", "update-received")
    summary = approval_summary(intake_ctx, ref, 2)
    assert summary is not None and "Legal status" in summary.changed
    assert "Providers added (they get the full alert): GEH" in summary.warnings
    give_decision(intake_ctx, ref, 2, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(intake_ctx, ref)
    assert held_by(intake_ctx, UHCW)[-1] == f"{ref}: UPDATED health alert for UHCW (version 2)"
    assert held_by(intake_ctx, SWFT)[-1] == f"{ref}: health alert WITHDRAWN for SWFT"
    assert held_by(intake_ctx, GEH) == [f"{ref}: HEALTH ALERT for GEH: Missing child (URGENT)"]
    email(intake_ctx, SW, f"WITHDRAW {ref}", "Reason: Resolved\n")
    run(intake_ctx)
    approve_withdrawal(intake_ctx, ref)
    assert [len(held_by(intake_ctx, a)) for a in (UHCW, SWFT, GEH)] == [3, 2, 2]  # SWFT is not told twice


def test_a_provider_removed_from_the_directory_while_active_does_not_stop_a_withdrawal(
        intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx)
    config = intake_ctx.config
    trimmed = config.model_copy(update={"providers": [p for p in config.providers if p.code != "SWFT"]})
    ctx = IntakeContext(trimmed, intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    email(ctx, SW, f"WITHDRAW {ref}", "Reason: Found\n")
    [result] = run(ctx)
    assert (result.outcome, result.reason) == ("recorded", "withdraw-requested")
    approve_withdrawal(ctx, ref)
    assert held_by(ctx, UHCW)[-1] == f"{ref}: health alert WITHDRAWN for UHCW"
    assert len(held_by(ctx, SWFT)) == 1  # only the original alert: its directory entry is gone
    admin = held_by(ctx, config.settings.service.admin_team)
    assert admin == [f"{ref}: withdrawal notices could not be sent to every provider"]


def test_an_insecure_provider_is_refused_and_the_admin_team_told(intake_ctx: IntakeContext) -> None:
    ref = submit_and_approve(intake_ctx, **{"Providers to alert": "UHCW, BHAM"})
    assert held_by(intake_ctx, "safeguarding@bwc-example.test") == []
    assert held_by(intake_ctx, intake_ctx.config.settings.service.admin_team) == [
        f"{ref}: some providers were not sent a notice"]
    assert len(held_by(intake_ctx, UHCW)) == 1
