"""Retention: the personal data of alerts withdrawn (or rejected) longer ago than the configured
period is erased from the register, leaving the alert's counts, dates, deliveries and the audit
chain intact. The erasure is itself audited, and the alert marked (erased_at), so later nights skip
it: each night costs what it erases. Mail kept in the mailbox follows the mailbox's own retention
policy."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from safeguard.adapters.register.orm import Alert, InboundMessage, OutboxBody, OutboxEntry, WithdrawalRequest
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.domain.status import REJECTED, WITHDRAWN

ERASED = "erased"


def erase_expired(uow: UnitOfWork, config: Config, now: datetime) -> list[str]:
    """Returns the references erased (the caller commits)."""
    days = config.settings.retention.closed_alert_personal_data_days
    if days <= 0:
        return []
    cutoff = now - timedelta(days=days)
    register, session = uow.register, uow.session
    alerts = session.scalars(select(Alert).where(Alert.erased_at.is_(None), or_(
        (Alert.status == WITHDRAWN) & (Alert.withdrawn_at < cutoff),
        (Alert.status == REJECTED) & (Alert.updated_at < cutoff))).order_by(Alert.id)).all()
    erased = []
    for alert in alerts:
        versions = register.versions(alert)
        alert.erased_at = now
        if all(v.form.get(ERASED) for v in versions):
            continue
        for v in versions:
            if not v.form.get(ERASED):
                v.form = {ERASED: True, "erased_at": now.isoformat(), "alert_type": v.form.get("alert_type"),
                          "subjects": len(v.form.get("subjects") or []), "providers": v.form.get("providers")}
            v.decision_reason = v.decision_note = None
        session.execute(delete(OutboxBody).where(OutboxBody.outbox_id.in_(
            select(OutboxEntry.id).where(OutboxEntry.alert_id == alert.id))).execution_options(
            synchronize_session=False))
        for request in session.scalars(select(WithdrawalRequest)
                                       .where(WithdrawalRequest.alert_id == alert.id)):
            request.reason = request.decision_note = None
        for message in session.scalars(select(InboundMessage).where(InboundMessage.alert_id == alert.id)):
            if message.command:
                message.command = {k: v for k, v in message.command.items() if k != "reason"}
        register.audit(actor="system", action="personal data erased", at=now, alert_ref=alert.reference,
                       retention_days=days, versions=len(versions))
        erased.append(alert.reference)
    return erased
