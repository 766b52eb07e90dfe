"""Reminders and escalations, computed from the register for a given instant.

`now` is always a parameter, so any instant can be tested. Each due event has one outbox key, so
it is sent at most once however many runs there are, even two at the same moment. What is due is
selected in SQL (a day's candidates, not every active alert), the keys already in the outbox are
dropped in one query, and the rest are queued QUEUE_BATCH to a transaction. Nothing is sent on a
day that is not a working day in England and Wales.

End of life (config: timescales review_passed_escalate_days, review_passed_close_days): an alert
still active that long after its review date, with no answer, is escalated, then closed (withdrawn,
every provider holding it told), so the daily pass stays the live work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, Delivery
from safeguard.adapters.register.repository import Register
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.config import Config
from safeguard.domain.status import ACTIVE
from safeguard.service_layer.digests import due_digest_chases, due_digests
from safeguard.service_layer.due import Due
from safeguard.service_layer.lifecycle import withdraw
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


QUEUE_BATCH = 100


def run_reminders(uow: Callable[[], UnitOfWork], config: Config, calendar: WorkingDays,
                  now: datetime) -> ReminderRun:
    today = config.local_date(now)
    run = ReminderRun(today, calendar.is_working_day(today))
    if not run.working_day:
        return run
    with uow() as u:
        due = list(due_reminders(u.register, config, calendar, today, now))
        queued_before = u.register.outbox_keys([item.key for item in due])
    run.already = sum(item.key in queued_before for item in due)
    due = [item for item in due if item.key not in queued_before]
    for start in range(0, len(due), QUEUE_BATCH):
        for item in _queue_batch(uow, config, due[start:start + QUEUE_BATCH], now):
            run.queued.setdefault(item.kind, []).append(item.reference or str(item.inbound_id))
    run.already += len(due) - sum(run.counts().values())
    return run


def _queue_batch(uow: Callable[[], UnitOfWork], config: Config, items: list[Due], now: datetime) -> list[Due]:
    """Queue these reminders in one transaction; returns those queued. The audit chain's lock is taken
    first, so an overlapping run waits here, then sees this run's entries and skips them."""
    queued = []
    with uow() as u:
        u.register.lock_audit()
        for item in items:
            if u.register.outbox_entry(item.key) is not None:
                continue
            rendered = render_email(item.template, service=config.settings.service, **item.data)
            queue_email(u.register, key=item.key, kind=f"reminder:{item.kind}", rendered=rendered,
                        sender=sender_of(config), recipients=list(item.recipients), at=now,
                        alert_id=item.alert_id, inbound_id=item.inbound_id)
            if item.mark:
                item.mark(u.register, now)
            u.register.audit(actor="system", action=f"reminder queued: {item.kind}", at=now,
                             # a digest's reference is not an alert's
                             alert_ref=item.reference if item.alert_id is not None else None,
                             inbound_id=item.inbound_id, key=item.key)
            queued.append(item)
        try:
            u.commit()
        except IntegrityError:  # an overlapping run queued one of them first: the next run tries again
            return []
    return queued


@dataclass(frozen=True)
class AlertView:
    """What reminder templates show of an alert, detached from the session that read it."""

    reference: str
    alert_type: str
    review_date: date


def _view(alert: Alert) -> AlertView:
    return AlertView(alert.reference, alert.alert_type, alert.review_date)


def due_reminders(register: Register, config: Config, calendar: WorkingDays, today: date,
                  now: datetime | None = None) -> Iterator[Due]:
    yield from _acknowledgements(register, config, calendar, today)
    yield from _reviews(register, config, calendar, today)
    yield from _end_of_life(register, config, today, now)
    yield from _unborn(register, config, today)
    yield from _resubmits(register, config, calendar, today)
    yield from due_digests(register, config, calendar, today)
    yield from due_digest_chases(register, config, calendar, today)
    yield from due_lapses(register, config, calendar, today)


def _local(moment: datetime, config: Config) -> date:
    return config.local_date(moment)


def _midnight(day: date, config: Config) -> datetime:
    return datetime.combine(day, time(), config.timezone)


def latest_start(calendar: WorkingDays, today: date, working_days: int) -> date:
    """The latest day d with calendar.add(d, working_days) <= today: anything sent on or before it
    is due today (adding working days never moves an earlier day later)."""
    day = today
    while calendar.add(day, working_days) > today:
        day -= timedelta(days=1)
    return day


def _acknowledgements(register: Register, config: Config, calendar: WorkingDays,
                      today: date) -> Iterator[Due]:
    times = config.timescales
    service = config.settings.service
    names = {p.code: p.name for p in config.providers}
    first = min(times.provider_ack_chase_working_days, times.provider_ack_escalate_working_days)
    sent_before = _midnight(latest_start(calendar, today, first) + timedelta(days=1), config)
    for alert, delivery in register.deliveries_to_chase(sent_before):
        sent = _local(delivery.notified_at, config)
        data = {"alert": _view(alert),
                "provider_name": names.get(delivery.provider_code, delivery.provider_code),
                "sent_on": sent, "code": delivery.provider_code}
        delivery_id = delivery.id
        if delivery.chased_at is None and today >= calendar.add(sent, times.provider_ack_chase_working_days):
            yield Due("provider-chase", f"reminder:chase:{delivery.notice_key}", alert.reference,
                      "reminder_ack_chase", (delivery.mailbox,), data, alert.id,
                      mark=lambda r, t, d=delivery_id: _set(r, d, "chased_at", t))
        if delivery.escalated_at is None and today >= calendar.add(sent,
                                                                   times.provider_ack_escalate_working_days):
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
    soon_until = today
    while calendar.subtract(soon_until + timedelta(days=1), before) <= today:
        soon_until += timedelta(days=1)
    for alert in register.active_alerts(review_before=soon_until + timedelta(days=1)):
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


def _end_of_life(register: Register, config: Config, today: date, now: datetime | None) -> Iterator[Due]:
    """Escalated review_passed_escalate_days after the review date; closed review_passed_close_days
    after it, once the escalation has had the days between to be answered."""
    times, service = config.timescales, config.settings.service
    if not times.review_passed_escalate_days:
        return
    nurse = service.designated_nurse or service.admin_team
    grace = timedelta(days=max(times.review_passed_close_days - times.review_passed_escalate_days, 0))
    since = today - timedelta(days=times.review_passed_escalate_days - 1)
    for alert in register.active_alerts(review_before=since):
        people = tuple(dict.fromkeys((alert.team_manager_email, nurse, service.admin_team,
                                      alert.social_worker_email)))
        escalation = f"reminder:end-of-life:{alert.reference}:{alert.review_date}"
        close_on = alert.review_date + timedelta(days=times.review_passed_close_days)
        data = {"alert": _view(alert), "close_on": close_on if times.review_passed_close_days else None}
        yield Due("end-of-life-escalation", escalation, alert.reference, "reminder_end_of_life", people,
                  data, alert.id)
        if not times.review_passed_close_days or today < close_on or now is None:
            continue
        escalated = register.outbox_entry(escalation)
        if escalated is None or now - escalated.created_at < grace:
            continue
        alert_id = alert.id
        yield Due("end-of-life-close", f"reminder:closed:{alert.reference}:{alert.review_date}",
                  alert.reference, "alert_closed", people, data, alert.id,
                  mark=lambda r, t, a=alert_id: _close(r, config, a, t))


def _close(register: Register, config: Config, alert_id: int, at: datetime) -> None:
    """Withdraw the alert as the system: every provider holding it gets a withdrawal notice."""
    alert = register.session.get(Alert, alert_id)
    if alert is not None and alert.status == ACTIVE:
        withdraw(register, config, alert, CLOSED_REASON, "system", at,
                 occasion=f"closed-{alert.review_date.isoformat()}")


CLOSED_REASON = "Closed: the review date passed long ago with no answer from the social worker"


def _unborn(register: Register, config: Config, today: date) -> Iterator[Due]:
    after = timedelta(days=config.timescales.unborn_reminder_days_after_edd)
    for alert, edd in register.active_expected_deliveries(today - after):
        if edd is not None:
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
