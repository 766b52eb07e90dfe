"""Erasing one alert's personal data: by the retention period (retention.py) or on request
(`safeguard erase --alert`). What stays: the alert's reference, type, dates, statuses, deliveries, counts,
and the audit chain with the commitments of the details erased from it. The caller audits and commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from safeguard.adapters.register import audit
from safeguard.adapters.register.orm import (
    Alert,
    AlertVersion,
    AuditEntry,
    InboundMessage,
    OutboxBody,
    OutboxEntry,
    SubjectKey,
    WithdrawalRequest,
)
from safeguard.adapters.register.repository import Register
from safeguard.domain.status import REJECTED, WITHDRAWN
from safeguard.service_layer.photos import erase_photos

ERASED = "erased"
FREE_TEXT = frozenset({"reason", "when", "where"})  # the command fields people write in
CLOSED = (WITHDRAWN, REJECTED)


class StillHeld(ValueError):
    """An erasure request for an alert that is not closed: the message says what to do first."""


@dataclass(frozen=True)
class Erased:
    versions: int
    emails: int
    messages: int
    requests: int
    audit_details: int
    photos: int
    subject_keys: int

    def counts(self) -> dict[str, int]:
        return {"versions": self.versions, "emails": self.emails, "messages": self.messages,
                "requests": self.requests, "audit_details": self.audit_details, "photos": self.photos,
                "subject_keys": self.subject_keys}


def already_erased(versions: list[AlertVersion]) -> bool:
    return all(v.form.get(ERASED) for v in versions)


def erase_alert(register: Register, alert: Alert, now: datetime,
                versions: list[AlertVersion] | None = None) -> Erased:
    """`versions`: the alert's, when the caller has read them (each read decrypts every form)."""
    session = register.session
    versions = register.versions(alert) if versions is None else versions
    for v in versions:
        if not v.form.get(ERASED):
            v.form = {ERASED: True, "erased_at": now.isoformat(), "alert_type": v.form.get("alert_type"),
                      "subjects": len(v.form.get("subjects") or []), "providers": v.form.get("providers")}
        v.decision_reason = v.decision_note = None
    alert.erased_at = now  # later nights skip it (retention.py)
    emails = session.execute(delete(OutboxBody).where(OutboxBody.outbox_id.in_(
        select(OutboxEntry.id).where(OutboxEntry.alert_id == alert.id)))
        .execution_options(synchronize_session=False)).rowcount
    requests = session.execute(update(WithdrawalRequest).where(WithdrawalRequest.alert_id == alert.id)
                               .values(reason=None, decision_note=None)
                               .execution_options(synchronize_session=False)).rowcount
    messages = list(session.scalars(select(InboundMessage).where(InboundMessage.alert_id == alert.id)))
    for message in messages:
        forget_message(message)
    details = audit.erase_details(session, _entries_of(register, alert, [m.id for m in messages]), now)
    photos = erase_photos(register, alert)
    keys = session.execute(delete(SubjectKey).where(SubjectKey.alert_id == alert.id)).rowcount
    return Erased(len(versions), int(emails or 0), len(messages), int(requests or 0), details, photos,
                  int(keys or 0))


def erase_on_request(register: Register, reference: str, authorised_by: str, reason: str,
                     now: datetime) -> dict[str, int] | None:
    """`safeguard erase --alert`: erase now, whatever the alert's status (None: no such alert). The audit
    entry keeps who authorised it and the counts; the reason is kept too (it is about the request)."""
    alert = register.alert(reference)
    if alert is None:
        return None
    if alert.status not in CLOSED:
        raise StillHeld(f"{alert.reference} is {alert.status}: providers hold it or may still be sent it. "
                        "Withdraw it first (or reject it), so that every provider is told, then erase it.")
    counts = erase_alert(register, alert, now).counts()
    register.audit(actor=authorised_by, action="personal data erased on request", at=now,
                   alert_ref=alert.reference, reason=reason, **counts)
    return counts


def forget_message(message: InboundMessage) -> None:
    """What a received message's row may hold of a person: the command's free text (a reason; where
    and when a provider saw the subject), and problems found in a form (which can quote it)."""
    if message.command and FREE_TEXT & message.command.keys():
        message.command = {k: v for k, v in message.command.items() if k not in FREE_TEXT}
    if message.problems:
        message.problems = [{"erased": True}] * len(message.problems)


def _entries_of(register: Register, alert: Alert, inbound_ids: list[int]) -> list[int]:
    """The alert's audit entries not yet erased: one query per indexed column. Asked together (an OR,
    and "erased_at IS NULL", which nearly every entry matches), SQLite walked the erased_at index: the
    whole log once per alert erased."""
    conditions = [AuditEntry.alert_ref == alert.reference]
    if inbound_ids:
        conditions.append(AuditEntry.inbound_id.in_(inbound_ids))
    found: set[int] = set()
    for condition in conditions:
        found.update(seq for seq, erased in register.session.execute(
            select(AuditEntry.seq, AuditEntry.erased_at).where(condition)) if erased is None)
    return sorted(found)
