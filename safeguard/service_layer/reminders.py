"""Reminders and escalations, computed from the register for a given instant.

`now` is always a parameter, so any instant can be tested. Each due event has one outbox key;
the reminder is queued in its own transaction, so it is sent at most once however many runs
there are, even two at the same moment (the second one's insert fails on the unique key).
Nothing is sent on a day that is not a working day in England and Wales.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, Delivery, InboundMessage
from safeguard.adapters.register.repository import Register
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.config import Config
from safeguard.service_layer.digests import due_digest_chases, due_digests
from safeguard.service_layer.due import Due
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.review_lapse import due_lapses

if TYPE_CHECKING:
    from safeguard.service_layer.intake import IntakeContext

log = logging.getLogger(__name__)
RESUBMIT_LOOKBACK_DAYS = 14


@dataclass
class ReminderRun:
    today: date
    working_day: bool
    queued: dict[str, list[str]] = field(default_factory=dict)  # kind -> references (or message ids)
    already: int = 0

    def counts(self) -> dict[str, int]:
        return {kind: len(refs) for kind, refs in self.queued.items()}


def parse_instant(text: str | None, timezone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset it is wall-clock time in the service's zone (2026-12-24T08:00);
    empty means now."""
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone)


def run_reminders(uow: Callable[[], UnitOfWork], config: Config, calendar: WorkingDays,
                  now: datetime) -> ReminderRun:
    today = config.local_date(now)
    run = ReminderRun(today, calendar.is_working_day(today))
    if not run.working_day:
        return run
    with uow() as u:
        due = list(due_reminders(u.register, config, calendar, today))
    for item in due:
        if _queue_once(uow, config, item, now):
            run.queued.setdefault(item.kind, []).append(item.reference or str(item.inbound_id))
        else:
            run.already += 1
    return run


def _queue_once(uow: Callable[[], UnitOfWork], config: Config, item: Due, now: datetime) -> bool:
    with uow() as u:
        # Lock the alert (or message) the reminder is about: an overlapping run waits here, then
        # sees this run's entry and stops.
        u.register.lock(Alert if item.alert_id is not None else InboundMessage,
                        item.alert_id or item.inbound_id)
        if u.register.outbox_entry(item.key) is not None:
            return False
        rendered = render_email(item.template, service=config.settings.service, **item.data)
        try:
            queue_email(u.register, key=item.key, kind=f"reminder:{item.kind}", rendered=rendered,
                        sender=sender_of(config), recipients=list(item.recipients), at=now,
                        alert_id=item.alert_id, inbound_id=item.inbound_id)
            if item.mark:
                item.mark(u.register, now)
            u.register.audit(actor="system", action=f"reminder queued: {item.kind}", at=now,
                             # a digest's reference is not an alert's
                             alert_ref=item.reference if item.alert_id is not None else None,
                             inbound_id=item.inbound_id, key=item.key)
            u.commit()
        except IntegrityError:  # an overlapping run queued it first
            return False
    return True


@dataclass(frozen=True)
class AlertView:
    """What reminder templates show of an alert, detached from the session that read it."""

    reference: str
    alert_type: str
    review_date: date


def _view(alert: Alert) -> AlertView:
    return AlertView(alert.reference, alert.alert_type, alert.review_date)


def due_reminders(register: Register, config: Config, calendar: WorkingDays, today: date) -> Iterator[Due]:
    yield from _acknowledgements(register, config, calendar, today)
    yield from _reviews(register, config, calendar, today)
    yield from _unborn(register, config, today)
    yield from _resubmits(register, config, calendar, today)
    yield from due_digests(register, config, calendar, today)
    yield from due_digest_chases(register, config, calendar, today)
    yield from due_lapses(register, config, calendar, today)


def _local(moment: datetime, config: Config) -> date:
    return config.local_date(moment)


def _acknowledgements(register: Register, config: Config, calendar: WorkingDays,
                      today: date) -> Iterator[Due]:
    times = config.timescales
    service = config.settings.service
    names = {p.code: p.name for p in config.providers}
    for alert, delivery in register.unacknowledged_deliveries():
        sent = _local(delivery.notified_at, config)
        data = {"alert": _view(alert),
                "provider_name": names.get(delivery.provider_code, delivery.provider_code),
                "sent_on": sent, "code": delivery.provider_code}
        delivery_id = delivery.id
        if today >= calendar.add(sent, times.provider_ack_chase_working_days):
            yield Due("provider-chase", f"reminder:chase:{delivery.notice_key}", alert.reference,
                      "reminder_ack_chase", (delivery.mailbox,), data, alert.id,
                      mark=lambda r, t, d=delivery_id: _set(r, d, "chased_at", t))
        if today >= calendar.add(sent, times.provider_ack_escalate_working_days):
            yield Due("provider-escalation", f"reminder:escalate:{delivery.notice_key}", alert.reference,
                      "reminder_ack_escalation", (service.admin_team,), data, alert.id,
                      mark=lambda r, t, d=delivery_id: _set(r, d, "escalated_at", t))


def _set(register: Register, delivery_id: int, column: str, at: datetime) -> None:
    delivery = register.session.get(Delivery, delivery_id)
    if delivery is not None:
        setattr(delivery, column, at)


def _reviews(register: Register, config: Config, calendar: WorkingDays, today: date) -> Iterator[Due]:
    service = config.settings.service
    before = config.timescales.review_reminder_working_days_before
    for alert in register.active_alerts():
        people = tuple(dict.fromkeys((alert.social_worker_email, alert.team_manager_email)))
        longest = config.longest_review_date(alert.alert_type, _local(alert.created_at, config))
        data = {"alert": _view(alert), "longest": longest}
        if calendar.subtract(alert.review_date, before) <= today <= alert.review_date:
            yield Due("review-soon", f"reminder:review-soon:{alert.reference}:{alert.review_date}",
                      alert.reference, "reminder_review_soon", people, data, alert.id)
        elif today > alert.review_date:
            nurse = service.designated_nurse or service.admin_team
            yield Due("review-passed", f"reminder:review-passed:{alert.reference}:{alert.review_date}",
                      alert.reference, "reminder_review_passed",
                      tuple(dict.fromkeys((alert.team_manager_email, nurse, alert.social_worker_email))),
                      data, alert.id)


def _unborn(register: Register, config: Config, today: date) -> Iterator[Due]:
    after = timedelta(days=config.timescales.unborn_reminder_days_after_edd)
    for alert in register.active_alerts():
        version = register.alert_version(alert, alert.current_version)
        if version is None:
            continue
        dates = [s.expected_delivery_date for s in register.form(version).subjects
                 if s.expected_delivery_date]
        if dates and today >= min(dates) + after:
            edd = min(dates)
            yield Due("unborn-born", f"reminder:unborn:{alert.reference}:{edd}", alert.reference,
                      "reminder_unborn",
                      tuple(dict.fromkeys((alert.social_worker_email, alert.team_manager_email))),
                      {"alert": _view(alert), "edd": edd}, alert.id)


def _resubmits(register: Register, config: Config, calendar: WorkingDays, today: date) -> Iterator[Due]:
    days = config.timescales.invalid_resubmit_nudge_working_days
    since = datetime.combine(today - timedelta(days=RESUBMIT_LOOKBACK_DAYS), datetime.min.time(),
                             config.timezone)
    for message in register.invalid_submissions_since(since):
        if message.sender is None or today < calendar.add(_local(message.received_at, config), days):
            continue
        if register.accepted_from_since(message.sender, message.received_at):
            continue
        yield Due("resubmit-nudge", f"reminder:resubmit:{message.id}", None, "reminder_resubmit",
                  (message.sender,),
                  {"received_on": _local(message.received_at, config), "problems": len(message.problems)},
                  inbound_id=message.id)


def remind(ctx: IntakeContext, calendar: WorkingDays, now: datetime) -> tuple[ReminderRun, dict[str, int]]:
    """The reminders run, for the flow's task and `safeguard reminders --without-prefect` alike: queue
    what is due at `now`, then send what the outbox holds. Returns the run and the send counts."""
    from safeguard.service_layer.sending import send_unsent

    run = run_reminders(ctx.uow, ctx.config, calendar, now)
    return run, send_unsent(ctx)
