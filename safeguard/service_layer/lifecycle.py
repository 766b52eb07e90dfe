"""Commands that change an active alert without re-approval: withdraw, extend, acknowledge.

Each runs inside the intake transaction that records the email asking for it, so the change,
its notices (in the outbox) and the reply to the sender commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from safeguard.adapters.register.orm import Alert, OutboxEntry
from safeguard.adapters.register.repository import Register
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.commands import BounceReport
from safeguard.domain.config import Config
from safeguard.domain.forms.model import HealthAlertForm
from safeguard.domain.status import WITHDRAWN, DeliveryStatus, OutboxStatus, VersionStatus
from safeguard.domain.triage import FindSent, SentFacts
from safeguard.service_layer.notices import NotSent, queue_notice, resolve, tell_admin, undelivered


@dataclass(frozen=True)
class CommandResult:
    verb: str
    told: list[str] = field(default_factory=list)  # provider names sent a notice
    not_sent: list[NotSent] = field(default_factory=list)
    review_date: date | None = None


def _form(register: Register, alert: Alert) -> HealthAlertForm:
    version = register.alert_version(alert, alert.current_version)
    assert version is not None
    return register.form(version)


def _tell_active_providers(register: Register, config: Config, alert: Alert, kind: str, now: datetime,
                           **notice: object) -> tuple[list[str], list[NotSent]]:
    # A provider whose last notice bounced may still hold an earlier one: it is sent a withdrawal too.
    held = ((DeliveryStatus.NOTIFIED, DeliveryStatus.FAILED) if kind == "withdrawal"
            else (DeliveryStatus.NOTIFIED,))
    active = [d.provider_code for d in register.deliveries(alert) if d.status in held]
    if not active:
        return [], []
    targets, not_sent = resolve(config, active)
    form = _form(register, alert)
    for target in targets:
        queue_notice(register, config, alert=alert, version=alert.current_version, target=target,
                     kind=kind, form=form, at=now, **notice)  # type: ignore[arg-type]
    return [t.provider.name for t in targets], not_sent


def withdraw(register: Register, config: Config, alert: Alert, reason: str, actor: str, now: datetime,
             inbound_id: int | None = None, occasion: str = "") -> CommandResult:
    """Withdrawal notices go to every provider holding the alert (not to ones already withdrawn from it).
    occasion tells a withdrawal after a reinstatement from the first (see notices.notice_key)."""
    told, not_sent = _tell_active_providers(register, config, alert, "withdrawal", now, reason=reason,
                                            inbound_id=inbound_id, occasion=occasion)
    for version in register.versions(alert):
        if version.status == VersionStatus.PROPOSED:
            version.status = VersionStatus.WITHDRAWN
    alert.status, alert.withdrawn_at, alert.updated_at = WITHDRAWN, now, now
    register.audit(actor=actor, action="alert withdrawn", at=now, alert_ref=alert.reference, reason=reason,
                   providers=len(told), not_sent=[n.code for n in not_sent])
    if not_sent:
        tell_admin(register, config, alert, "withdrawal notices could not be sent to every provider",
                   [f"{n.code} {n.why}: tell them another way that the alert is withdrawn."
                    for n in not_sent],
                   key=f"admin:not-sent:{alert.reference}:withdrawal" + (f":{occasion}" if occasion else ""),
                   at=now, inbound_id=inbound_id)
    return CommandResult("withdraw", told, not_sent)


def extend(register: Register, config: Config, alert: Alert, review_date: date, actor: str,
           now: datetime, inbound_id: int | None = None) -> CommandResult:
    """A new review date (triage has checked it is within the type's maximum lifetime)."""
    previous = alert.review_date
    alert.review_date, alert.updated_at = review_date, now
    told, not_sent = [], []
    if alert.dispatched_at is not None:
        told, not_sent = _tell_active_providers(register, config, alert, "extension", now,
                                                occasion=review_date.isoformat(), inbound_id=inbound_id)
    register.audit(actor=actor, action="review date extended", at=now, alert_ref=alert.reference,
                   previous=previous.isoformat(), review_date=review_date.isoformat(), providers=len(told))
    if not_sent:
        tell_admin(register, config, alert, "extension notices could not be sent to every provider",
                   [f"{n.code} {n.why}: tell them another way that the review date is now "
                    f"{review_date:%d/%m/%Y}." for n in not_sent],
                   key=f"admin:not-sent:{alert.reference}:extension:{review_date.isoformat()}", at=now,
                   inbound_id=inbound_id)
    return CommandResult("extend", told, not_sent, review_date)


def acknowledge(register: Register, alert: Alert, provider_code: str, actor: str,
                now: datetime) -> CommandResult:
    delivery = register.delivery(alert, provider_code)
    if delivery is not None and delivery.acknowledged_at is None:
        delivery.acknowledged_at = now
        register.audit(actor=actor, action="notice acknowledged", at=now, alert_ref=alert.reference,
                       provider=provider_code, version=delivery.version, delivery_status=delivery.status)
    else:
        register.audit(actor=actor, action="provider replied", at=now, alert_ref=alert.reference,
                       provider=provider_code)
    return CommandResult("acknowledge")


def find_sent(u: UnitOfWork) -> FindSent:
    """For triage: an email we sent, by its exact Message-ID (never one only queued)."""
    def find(message_id: str) -> SentFacts | None:
        entry = u.session.scalars(select(OutboxEntry).where(OutboxEntry.message_id == message_id)).first()
        if entry is None or entry.status == OutboxStatus.CREATED:
            return None
        return SentFacts(entry.id, entry.kind, u.register.alert_reference(entry.alert_id))
    return find


def bounced(register: Register, config: Config, command: BounceReport, actor: str, now: datetime,
            inbound_id: int) -> Alert | None:
    """A bounce that triage matched to an email we sent: that outbox entry becomes "failed" with the
    status in last_error; if it was a provider's notice, see notices.undelivered (the delivery
    fails, the admin team is emailed at once). Returns the alert it was about, if any."""
    entry = register.get(OutboxEntry, command.outbox_id)
    if entry is None:
        return None
    failure = (command.failure or "no reason given")[:300]
    entry.status, entry.last_error = OutboxStatus.FAILED, f"bounced: {failure}"[:500]
    alert = register.get(Alert, entry.alert_id) if entry.alert_id is not None else None
    register.audit(actor=actor, action="email bounced", at=now, inbound_id=inbound_id,
                   alert_ref=alert.reference if alert else None, key=entry.key, kind=entry.kind,
                   status=command.status)
    undelivered(register, config, entry, f"bounced: {failure}", at=now, inbound_id=inbound_id)
    return alert
