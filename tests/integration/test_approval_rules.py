"""Who may decide, and how: listed approvers only, never on their own alert, stages in order by
role, and one-time codes bound to one approver and one version (Maildir, SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from safeguard.adapters.register.orm import ApprovalCode
from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
from safeguard.service_layer.dispatch import approval_summary, give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext
from tests.factories import xlsx_submission
from tests.integration.test_lifecycle import UHCW, email, held_by, put, run

DANA, SAM = "Dana Nightingale", "Sam Okafor"  # designated_nurse and checker in config/settings.yaml
DANA_AT = "designated.nurse@example-icb.test"
CODE = re.compile(r"APPROVE (HSA-\d{4}-\d{6}) ([A-Z0-9]{8})")


def staged(ctx: IntakeContext) -> IntakeContext:
    kinds = [k.model_copy(update={"approval_stages": ["checker", "designated_nurse"]})
             for k in ctx.config.alert_types]
    return replace(ctx, config=ctx.config.model_copy(update={"alert_types": kinds}))


def code_sent(ctx: IntakeContext, address: str, reference: str) -> str:
    root = ctx.mailbox.deliver_to / address / "new"  # type: ignore[operator]
    found = [m.group(2) for p in root.iterdir() if (m := CODE.search(p.read_text(errors="replace")))
             and m.group(1) == reference]
    assert len(found) == 1
    return found[0]


def test_a_staged_approval_needs_each_role_in_turn_and_sends_only_after_the_last(
        intake_ctx: IntakeContext) -> None:
    ctx = staged(intake_ctx)
    put(ctx.mailbox, xlsx_submission())
    [result] = run(ctx)
    ref = result.reference
    with pytest.raises(DecisionRefused, match="needs its checker approval") as wrong:
        give_decision(ctx, ref, 1, ApprovalRequest(True, DANA))
    assert wrong.value.code == "wrong-stage"
    first = give_decision(ctx, ref, 1, ApprovalRequest(True, SAM))
    assert (first.final, first.stage, first.next_stage) == (False, "checker", "designated_nurse")
    send_alert_email(ctx, ref)
    assert held_by(ctx, UHCW) == []  # nothing sent until the last stage
    summary = approval_summary(ctx, ref, 1)
    assert summary is not None and "checker: approved by Sam Okafor" in summary.markdown()
    with pytest.raises(DecisionRefused, match="another approver must give the next"):
        give_decision(ctx, ref, 1, ApprovalRequest(True, SAM))
    last = give_decision(ctx, ref, 1, ApprovalRequest(True, DANA))
    assert last.final and last.notices == {"alert": ["UHCW", "SWFT"]}
    send_alert_email(ctx, ref)
    assert len(held_by(ctx, UHCW)) == 1


def test_nobody_decides_on_an_alert_they_submitted_or_are_named_on(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission(**{"Team manager email": DANA_AT}))
    [result] = run(intake_ctx)
    with pytest.raises(DecisionRefused, match="nobody may approve or reject their own alert") as own:
        give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, DANA))
    assert own.value.code == "own-alert"
    assert give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, SAM)).final
    assert not (intake_ctx.mailbox.deliver_to / DANA_AT).exists()  # Dana was not asked to decide it


def test_a_code_works_once_only_for_its_approver_and_its_version(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    ref = result.reference
    dana_code = code_sent(intake_ctx, DANA_AT, ref)
    sam_at = "head.of.safeguarding@example-icb.test"
    email(intake_ctx, sam_at, f"APPROVE {ref} {dana_code}")  # Dana's code, from Sam
    [refused] = run(intake_ctx)
    assert (refused.outcome, refused.reason) == ("invalid", "wrong-code")
    with intake_ctx.uow() as u:
        stored = list(u.session.query(ApprovalCode))
        assert len(stored) == 2 and all(dana_code not in c.code_hash for c in stored)
        assert {c.used_at for c in stored} == {None}
    email(intake_ctx, DANA_AT, f"APPROVE {ref} {dana_code}")
    [approved] = run(intake_ctx)
    assert (approved.outcome, approved.reason) == ("recorded", "decision-by-email")
    send_alert_email(intake_ctx, ref)
    assert len(held_by(intake_ctx, UHCW)) == 1
    email(intake_ctx, DANA_AT, f"APPROVE {ref} {dana_code}")  # used, and the alert decided
    [again] = run(intake_ctx)
    assert (again.outcome, again.reason) == ("invalid", "already-decided")
    assert held_by(intake_ctx, DANA_AT)[-1] == f"{ref}: not actioned"


def test_the_command_line_accepts_only_a_listed_approver_and_says_who_is(
        intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, xlsx_submission())
    [result] = run(intake_ctx)
    with pytest.raises(DecisionRefused) as refused:
        give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, "Anyone At All"))
    assert refused.value.code == "not-an-approver"
    assert "Dana Nightingale, Sam Okafor" in refused.value.message
    assert "settings.yaml" in refused.value.message
