"""Overdue approvals, escalated within minutes rather than at the nightly reconciliation: an alert
version waiting for a decision longer than its limit (timescales.yaml approval_wait_limit_hours, or
urgent_approval_wait_limit_hours) is emailed to the approvers; after twice the limit, to the
Designated Nurse (the admin team if none is set). Once each, through the outbox. The approval-
escalation deployment runs this every 5 minutes (prefect.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, AlertVersion
from safeguard.adapters.register.repository import Register
from safeguard.domain.config import Config
from safeguard.service_layer.approval_email import runs_link
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.sending import send_unsent

APPROVERS, NURSE = "approvers", "designated nurse"


@dataclass(frozen=True)
class Escalated:
    """References only: safe for logs and Prefect."""

    queued: dict[str, list[str]] = field(default_factory=dict)  # audience -> references
    waiting: int = 0  # versions waiting for a decision
    sent: dict[str, int] = field(default_factory=dict)


def escalate_overdue(ctx: IntakeContext, now: datetime) -> Escalated:
    with ctx.uow() as u:
        waiting = u.register.versions_awaiting_decision()
        queued: dict[str, list[str]] = {}
        for alert, version in waiting:
            for audience in _due(ctx.config, alert, version, now):
                if _queue(u.register, ctx.config, alert, version, audience, now):
                    queued.setdefault(audience, []).append(alert.reference)
        u.commit()
    return Escalated(queued, len(waiting), send_unsent(ctx) if queued else {})


def _due(config: Config, alert: Alert, version: AlertVersion, now: datetime) -> list[str]:
    limit = config.timescales.approval_wait_limit(alert.urgency == "Urgent")
    waited = now - version.created_at
    return [APPROVERS] * (waited >= limit) + [NURSE] * (waited >= 2 * limit)


def _queue(register: Register, config: Config, alert: Alert, version: AlertVersion, audience: str,
           now: datetime) -> bool:
    key = f"approval-overdue:{alert.reference}:v{version.version}:{audience}"
    if register.outbox_entry(key) is not None:
        return False
    service = config.settings.service
    recipients = (service.approver_addresses or [service.admin_team]) if audience == APPROVERS else \
        [service.designated_nurse or service.admin_team]
    urgent = alert.urgency == "Urgent"
    queue_email(register, key=key, kind="admin:approval-overdue",
                rendered=render_email("approval_overdue", service=service, reference=alert.reference,
                                      version=version.version, urgent=urgent, to_nurse=audience == NURSE,
                                      waited=_hours(now - version.created_at),
                                      limit=_hours(config.timescales.approval_wait_limit(urgent)),
                                      link=runs_link(config)),
                sender=sender_of(config), recipients=recipients, at=now, alert_id=alert.id)
    register.audit(actor="system", action="approval overdue escalated", at=now, alert_ref=alert.reference,
                   version=version.version, to=audience)
    return True


def _hours(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} hour{'s' * (hours != 1)}" if hours else f"{minutes} minutes"
