"""Use cases around approval: announce the waiting run, record a decision, send what it queued.

Called alike by the Prefect tasks and the `safeguard approve|reject` commands.
"""

from __future__ import annotations

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.faults import checkpoint
from safeguard.service_layer.approval import (
    ApprovalRequest,
    ApprovalSummary,
    DecisionOutcome,
    decide,
    summary_for_approval,
)
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.sending import send_unsent
from safeguard.service_layer.subjects import shared_subject_warnings


def approval_summary(ctx: IntakeContext, reference: str, version: int | None) -> ApprovalSummary | None:
    with ctx.uow() as u:
        return summary_for_approval(u.register, ctx.config, reference, version, ctx.clock())


def record_approval_run(ctx: IntakeContext, reference: str, version: int, run_id: str) -> bool:
    """Remember which Prefect run waits on this version; for an urgent alert, email the approvers
    its reference and a link to the run (nothing else). Returns False if nothing is waiting."""
    with ctx.uow() as u:
        alert = u.register.alert(reference)
        pending = u.register.pending_version(alert) if alert else None
        if alert is None or pending is None or pending.version != version:
            return False
        pending.approval_run_id = run_id
        service = ctx.config.settings.service
        if alert.urgency == "Urgent" and service.approvers:
            link = f"{service.prefect_ui_url.rstrip('/')}/runs/flow-run/{run_id}"
            queue_email(u.register, key=f"approval-needed:{reference}:v{version}",
                        kind="admin:approval-needed",
                        rendered=render_email("approval_needed", service=service, reference=reference,
                                              link=link, shared=shared_subject_warnings(u.register, alert)),
                        sender=sender_of(ctx.config), recipients=list(service.approvers), at=ctx.clock(),
                        alert_id=alert.id)
        u.commit()
    send_alert_email(ctx, reference)
    return True


def give_decision(ctx: IntakeContext, reference: str, version: int | None,
                  request: ApprovalRequest) -> DecisionOutcome:
    """Record the decision and queue its email in one transaction. Raises DecisionRefused."""
    with ctx.uow() as u:
        outcome = decide(u.register, ctx.config, reference, version, request, ctx.clock())
        u.commit()
    checkpoint("after_decision")
    return outcome


def send_alert_email(ctx: IntakeContext, reference: str) -> dict[str, int]:
    """Send whatever the outbox holds unsent for this alert (notices, replies), once each."""
    with ctx.uow() as u:
        alert = u.register.alert(reference)
        alert_id = alert.id if alert else None
    return send_unsent(ctx, alert_id=alert_id) if alert_id else {}


def versions_without_run(ctx: IntakeContext) -> list[tuple[str, int]]:
    """(reference, version) of each form waiting for a decision with no approval run recorded."""
    with ctx.uow() as u:
        return [(a.reference, v.version) for a, v in u.register.versions_awaiting_decision()
                if v.approval_run_id is None]


def release_approval_run(ctx: IntakeContext, reference: str, version: int, run_id: str) -> None:
    """A run that stopped waiting (timed out) lets go of its version, so intake starts a fresh one."""
    with ctx.uow() as u:
        alert = u.register.alert(reference)
        pending = u.register.pending_version(alert) if alert else None
        if pending is not None and pending.version == version and pending.approval_run_id == run_id:
            pending.approval_run_id = None
            u.register.audit(actor="system", action="approval wait timed out", at=ctx.clock(),
                             alert_ref=reference, version=version)
            u.commit()
