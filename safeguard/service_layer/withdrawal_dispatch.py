"""Use cases around withdrawal decisions and reinstatement, each in its own transaction.

Called alike by the Prefect tasks (tasks/withdrawal.py) and the `safeguard approve|reject --withdrawal`
and `safeguard reinstate` commands.
"""

from __future__ import annotations

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.faults import checkpoint
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.withdrawal import (
    ReinstateOutcome,
    WithdrawalAnswer,
    WithdrawalOutcome,
    WithdrawalSummary,
    decide_withdrawal,
    record_decision_run,
    reinstate,
    requests_without_run,
    withdrawal_summary,
)


def withdrawal_form(ctx: IntakeContext, reference: str) -> WithdrawalSummary | None:
    with ctx.uow() as u:
        return withdrawal_summary(u.register, ctx.config, reference)


def record_withdrawal_run(ctx: IntakeContext, reference: str, run_id: str) -> bool:
    """Remember the Prefect run waiting on this alert's withdrawal request, and email the approvers
    (or the admin team) its reference and a link to it. Returns False if no request waits."""
    with ctx.uow() as u:
        if not record_decision_run(u.register, reference, run_id):
            return False
        alert = u.register.alert(reference)
        service = ctx.config.settings.service
        link = f"{service.prefect_ui_url.rstrip('/')}/runs/flow-run/{run_id}"
        queue_email(u.register, key=f"withdrawal-decision-needed:{reference}:{run_id}",
                    kind="admin:withdrawal-decision-needed",
                    rendered=render_email("withdrawal_decision_needed", service=service, reference=reference,
                                          link=link),
                    sender=sender_of(ctx.config), at=ctx.clock(), alert_id=alert.id if alert else None,
                    recipients=service.approver_addresses or [service.admin_team])
        u.commit()
    return True


def give_withdrawal_decision(ctx: IntakeContext, reference: str,
                             answer: WithdrawalAnswer) -> WithdrawalOutcome:
    """Record the decision and queue its email in one transaction. Raises DecisionRefused."""
    with ctx.uow() as u:
        outcome = decide_withdrawal(u.register, ctx.config, reference, answer, ctx.clock())
        u.commit()
    checkpoint("after_decision")
    return outcome


def give_reinstatement(ctx: IntakeContext, reference: str, by: str, reason: str) -> ReinstateOutcome:
    """Reinstate and queue every notice in one transaction. Raises DecisionRefused."""
    with ctx.uow() as u:
        outcome = reinstate(u.register, ctx.config, reference, by, reason, ctx.clock())
        u.commit()
    checkpoint("after_decision")
    return outcome


def withdrawals_without_run(ctx: IntakeContext) -> list[str]:
    with ctx.uow() as u:
        return requests_without_run(u.register)
