"""The weekly "alerts you hold" digest: each provider holding an alert is sent, on the configured
weekday, the references it should be flagging (type, urgency, review date, the version it holds)
and those withdrawn since its last digest ("remove the flag"). No names: the notices carry those.

The provider replies `CONFIRM HSA-DIGEST-2026W49-UHCW`. An unconfirmed digest is chased the next
working day and escalated to the admin team after that, on the same timescales as notices. Each
digest has one outbox key per provider per ISO week, so it is sent once however many runs there are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select

from safeguard.adapters.register.orm import Alert, Delivery, ProviderDigest
from safeguard.adapters.register.repository import Register
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.commands import ConfirmDigest, digest_reference
from safeguard.domain.config import Config
from safeguard.domain.config.models import WEEKDAYS
from safeguard.domain.status import ACTIVE, DeliveryStatus
from safeguard.service_layer.due import Due
from safeguard.service_layer.notices import resolve

FIRST_DIGEST_LOOKBACK_DAYS = 7  # withdrawals listed in a provider's first digest


def digest_day(config: Config, calendar: WorkingDays, today: date) -> date | None:
    """This week's digest day: the configured weekday, or the working day after it if it is a bank
    holiday (None if there is no working day left in the week, or no digest is configured)."""
    weekday = config.timescales.digest_weekday
    if weekday is None:
        return None
    day = today - timedelta(days=today.weekday()) + timedelta(days=WEEKDAYS.index(weekday))
    while not calendar.is_working_day(day) and day.weekday() < 5:
        day += timedelta(days=1)
    return day if day.weekday() < 5 else None


def due_digests(register: Register, config: Config, calendar: WorkingDays, today: date) -> Iterator[Due]:
    if digest_day(config, calendar, today) != today:
        return
    year, week, _ = today.isocalendar()
    held = _held(register)
    withdrawn = _withdrawn_since_last(register, config, today)
    targets, _refused = resolve(config, sorted(set(held) | set(withdrawn)))  # reconcile reports the rest
    for target in targets:
        code = target.provider.code
        reference = digest_reference(config.settings.service.reference_prefix, year, week, code)
        active = held.get(code, [])
        gone = withdrawn.get(code, [])
        yield Due("digest", f"digest:{reference}", reference, "provider_digest", (target.provider.mailbox,),
                  {"provider": target.provider, "marker": target.marker, "digest": reference,
                   "active": active, "withdrawn": gone, "today": today},
                  mark=_recorder(reference, code, target.provider.mailbox, active, gone))


def _held(register: Register) -> dict[str, list[dict[str, str | int]]]:
    """Provider code -> the active alerts it holds, in reference order."""
    rows = register.session.execute(
        select(Alert, Delivery).join(Delivery, Delivery.alert_id == Alert.id)
        .where(Alert.status == ACTIVE, Delivery.status == DeliveryStatus.NOTIFIED)
        .order_by(Alert.reference)).all()
    held: dict[str, list[dict[str, str | int]]] = {}
    for alert, delivery in rows:
        held.setdefault(delivery.provider_code, []).append({
            "reference": alert.reference, "alert_type": alert.alert_type, "urgency": alert.urgency,
            "review_date": alert.review_date.isoformat(), "version": delivery.version})
    return held


def _withdrawn_since_last(register: Register, config: Config, today: date) -> dict[str, list[str]]:
    """Provider code -> references it was told of the withdrawal of since its last digest."""
    last: dict[str, datetime] = dict(register.session.execute(  # type: ignore[arg-type]
        select(ProviderDigest.provider_code, func.max(ProviderDigest.sent_at))
        .group_by(ProviderDigest.provider_code)).all())
    first = datetime.combine(today - timedelta(days=FIRST_DIGEST_LOOKBACK_DAYS), datetime.min.time(),
                             config.timezone)
    since = min([first, *last.values()])
    rows = register.session.execute(
        select(Alert.reference, Delivery.provider_code, Delivery.withdrawn_at)
        .join(Delivery, Delivery.alert_id == Alert.id)
        .where(Delivery.status == DeliveryStatus.WITHDRAWN, Delivery.withdrawn_at > since)
        .order_by(Alert.reference)).all()
    gone: dict[str, list[str]] = {}
    for reference, code, withdrawn_at in rows:
        if withdrawn_at is not None and withdrawn_at > last.get(code, first):
            gone.setdefault(code, []).append(reference)
    return gone


def _recorder(reference: str, code: str, mailbox: str, active: list[dict[str, str | int]],
              withdrawn: list[str]) -> Callable[[Register, datetime], None]:
    def record(register: Register, at: datetime) -> None:
        register.add(ProviderDigest(reference=reference, provider_code=code, mailbox=mailbox, sent_at=at,
                                    active=active, withdrawn=withdrawn))
    return record


def due_digest_chases(register: Register, config: Config, calendar: WorkingDays,
                      today: date) -> Iterator[Due]:
    """An unconfirmed digest: chased to the provider after provider_ack_chase_working_days, and the
    admin team told after provider_ack_escalate_working_days."""
    times, service = config.timescales, config.settings.service
    rows = register.session.scalars(select(ProviderDigest).where(
        ProviderDigest.confirmed_at.is_(None),
        or_(ProviderDigest.chased_at.is_(None), ProviderDigest.escalated_at.is_(None)))
        .order_by(ProviderDigest.id)).all()
    for digest in rows:
        sent = config.local_date(digest.sent_at)
        provider = config.provider(digest.provider_code)
        data = {"digest": digest.reference, "code": digest.provider_code, "sent_on": sent,
                "provider_name": provider.name if provider else digest.provider_code,
                "count": len(digest.active)}
        if digest.chased_at is None and today >= calendar.add(sent, times.provider_ack_chase_working_days):
            yield Due("digest-chase", f"reminder:digest-chase:{digest.reference}", digest.reference,
                      "reminder_digest_chase", (digest.mailbox,), data,
                      mark=_setter(digest.id, "chased_at"))
        escalate_on = calendar.add(sent, times.provider_ack_escalate_working_days)
        if digest.escalated_at is None and today >= escalate_on:
            yield Due("digest-escalation", f"reminder:digest-escalate:{digest.reference}", digest.reference,
                      "reminder_digest_escalation", (service.admin_team,), data,
                      mark=_setter(digest.id, "escalated_at"))


def _setter(digest_id: int, column: str) -> Callable[[Register, datetime], None]:
    def mark(register: Register, at: datetime) -> None:
        digest = register.get(ProviderDigest, digest_id)
        if digest is not None:
            setattr(digest, column, at)
    return mark


def digest_provider(register: Register, reference: str) -> str | None:
    """The provider code the digest with this reference was sent to (triage's find_digest)."""
    return register.session.scalar(select(ProviderDigest.provider_code)
                                   .where(ProviderDigest.reference == reference))


def confirm_digest(register: Register, command: ConfirmDigest, now: datetime, inbound_id: int) -> None:
    digest = register.session.scalars(select(ProviderDigest)
                                      .where(ProviderDigest.reference == command.digest)).first()
    if digest is None:
        return  # triage found it: only a concurrent erasure could remove it
    if digest.confirmed_at is None:
        digest.confirmed_at, digest.confirmed_by = now, command.provider_address
    register.audit(actor=command.provider_address, action="digest confirmed", at=now, inbound_id=inbound_id,
                   digest=digest.reference, provider=digest.provider_code)
