"""Use cases around approval: announce the waiting run, record a decision, send what it queued.

Called alike by the Prefect tasks and the `safeguard approve|reject` commands.
"""

from __future__ import annotations

from safeguard.faults import checkpoint
from safeguard.service_layer.approval import (
    ApprovalRequest,
    ApprovalSummary,
    DecisionOutcome,
    decide,
    summary_for_approval,
)
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.sending import send_unsent


def approval_summary(ctx: IntakeContext, reference: str, version: int | None) -> ApprovalSummary | None:
    with ctx.uow() as u:
        return summary_for_approval(u.register, ctx.config, reference, version, ctx.clock())


def record_approval_run(ctx: IntakeContext, reference: str, version: int, run_id: str) -> bool:
    """Remember which Prefect run waits on this version (the approvers were emailed when the version
    arrived: approval_email.ask_approvers). Returns False if nothing is waiting."""
    with ctx.uow() as u:
        alert = u.register.alert(reference)
        pending = u.register.pending_version(alert) if alert else None
        if alert is None or pending is None or pending.version != version:
            return False
        if pending.approval_run_id != run_id:
            pending.approval_run_id = run_id
            u.commit()
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


def runs_to_end(ctx: IntakeContext, references: list[str]) -> list[tuple[str, str, str]]:
    """(reference, Prefect run id, words) for each of these alerts whose version decided by email is
    still recorded against a waiting run: the run is ended, as nothing is left for it to ask."""
    found = []
    with ctx.uow() as u:
        for reference in dict.fromkeys(references):
            alert = u.register.alert(reference)
            if alert is None or u.register.pending_version(alert) is not None:
                continue  # unknown, or still waiting (a staged approval): the run goes on waiting
            decided = [v for v in u.register.versions(alert) if v.approval_run_id and v.decided_at]
            if decided:
                version = max(decided, key=lambda v: v.version)
                found.append((reference, str(version.approval_run_id),
                              f"{version.status} by email by {version.decided_by}"))
    return found
