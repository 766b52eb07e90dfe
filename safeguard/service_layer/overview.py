"""The alerts overview: the register as a whole, for the admin team's dashboard.

References, codes and counts only (no names, no case details), so it can be published in Prefect as
the `alerts-overview` artifact, refreshed by every intake and reminders run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from safeguard.adapters.register.orm import Alert, AlertVersion, Delivery, InboundMessage, OutboxEntry
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.domain.status import AlertStatus, DeliveryStatus, OutboxStatus, Outcome, VersionStatus
from safeguard.service_layer.wording import age, listed, markdown_table

STATE_WORDS = {AlertStatus.AWAITING_APPROVAL: "waiting for approval", AlertStatus.ACTIVE: "active",
               AlertStatus.REJECTED: "rejected", AlertStatus.WITHDRAWN: "withdrawn"}
SHOWN = 20  # references listed in one line at most; the count is always whole


@dataclass(frozen=True)
class Unacknowledged:
    provider: str
    count: int
    oldest: timedelta
    chased: int
    escalated: int


@dataclass(frozen=True)
class Overview:
    at: datetime
    by_state_and_type: dict[tuple[str, str], int]  # (alert type, status) -> count
    waiting: list[str]  # references of versions waiting for a decision, oldest first
    oldest_waiting: timedelta | None
    active: int
    reviews_this_week: list[str]
    reviews_overdue: list[str]
    unacknowledged: list[Unacknowledged]
    failed_deliveries: list[str] = field(default_factory=list)  # "HSA-... (UHCW)"
    failed_email: int = 0  # outbox entries given up on
    quarantined_today: int = 0


def alerts_overview(uow: Callable[[], UnitOfWork], config: Config, now: datetime) -> Overview:
    today = config.local(now).date()
    with uow() as u:
        s = u.session
        by_state = {(t, st): n for t, st, n in s.execute(
            select(Alert.alert_type, Alert.status, func.count()).group_by(Alert.alert_type, Alert.status))}
        waiting = s.execute(select(Alert.reference, AlertVersion.version, AlertVersion.created_at)
                            .join(AlertVersion, AlertVersion.alert_id == Alert.id)
                            .where(AlertVersion.status == VersionStatus.PROPOSED)
                            .order_by(AlertVersion.created_at)).all()
        active = Alert.status == AlertStatus.ACTIVE
        reviews = s.execute(select(Alert.reference, Alert.review_date).where(
            active, Alert.review_date <= today + timedelta(days=7)).order_by(Alert.review_date)).all()
        return Overview(
            at=now, by_state_and_type=by_state,
            waiting=[r if v == 1 else f"{r} v{v}" for r, v, _ in waiting],
            oldest_waiting=now - waiting[0][2] if waiting else None,
            active=sum(n for (_, st), n in by_state.items() if st == AlertStatus.ACTIVE),
            reviews_this_week=[r for r, d in reviews if d >= today],
            reviews_overdue=[r for r, d in reviews if d < today],
            unacknowledged=_unacknowledged(s, now),
            failed_deliveries=[f"{r} ({p})" for r, p in s.execute(
                select(Alert.reference, Delivery.provider_code).join(Delivery, Delivery.alert_id == Alert.id)
                .where(Delivery.status == DeliveryStatus.FAILED).order_by(Delivery.failed_at))],
            failed_email=s.scalar(select(func.count()).select_from(OutboxEntry)
                                  .where(OutboxEntry.status == OutboxStatus.FAILED)) or 0,
            quarantined_today=s.scalar(select(func.count()).select_from(InboundMessage).where(
                InboundMessage.outcome == Outcome.QUARANTINED,
                InboundMessage.received_at >= _start_of(today, config))) or 0)


def _start_of(day: date, config: Config) -> datetime:
    return datetime.combine(day, time(0), config.timezone)


def _unacknowledged(session, now: datetime) -> list[Unacknowledged]:  # a Session
    rows = session.execute(
        select(Delivery.provider_code, func.count(), func.min(Delivery.notified_at),
               func.count(Delivery.chased_at), func.count(Delivery.escalated_at))
        .join(Alert, Alert.id == Delivery.alert_id)
        .where(Alert.status == AlertStatus.ACTIVE, Delivery.status == DeliveryStatus.NOTIFIED,
               Delivery.acknowledged_at.is_(None))
        .group_by(Delivery.provider_code).order_by(Delivery.provider_code))
    return [Unacknowledged(code, n, now - oldest, chased, escalated)
            for code, n, oldest, chased, escalated in rows]


def _some(references: list[str]) -> str:
    if not references:
        return ""
    more = len(references) - SHOWN
    return listed(references[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def overview_markdown(o: Overview, config: Config) -> str:
    """The dashboard as markdown: a headline list, then one table per question."""
    oldest = f", the oldest for {age(o.oldest_waiting)}" if o.oldest_waiting is not None else ""
    lines = [
        f"## Alerts at {config.local(o.at):%H:%M on %d %B %Y}",
        "",
        f"- **Waiting for approval:** {len(o.waiting)}{oldest}. {_some(o.waiting)}",
        f"- **Active:** {o.active}",
        f"- **Reviews due in the next 7 days:** {len(o.reviews_this_week)}. {_some(o.reviews_this_week)}",
        f"- **Reviews overdue:** {len(o.reviews_overdue)}. {_some(o.reviews_overdue)}",
        f"- **Failed deliveries** (a bounce said the notice never arrived): {len(o.failed_deliveries)}. "
        f"{_some(o.failed_deliveries)}",
        f"- **Email the outbox gave up sending:** {o.failed_email}",
        f"- **Messages quarantined today:** {o.quarantined_today}",
        "", "### Alerts by type and state", "",
        _state_table(o, config),
        "", "### Notices not yet acknowledged, by provider", "",
        markdown_table(["provider", "not acknowledged", "waiting longest", "chased", "escalated"],
                       [[u.provider, u.count, age(u.oldest), u.chased, u.escalated]
                        for u in o.unacknowledged])
        if o.unacknowledged else "Every notice has been acknowledged.",
        "", "References and counts only: names and case details stay in the register.",
    ]
    return "\n".join(line.rstrip() for line in lines)


def _state_table(o: Overview, config: Config) -> str:
    types = sorted({t for t, _ in o.by_state_and_type} | {t.name for t in config.alert_types})
    rows = [[t, *(o.by_state_and_type.get((t, st), 0) for st in STATE_WORDS),
             sum(n for (tt, _), n in o.by_state_and_type.items() if tt == t)] for t in types]
    totals = ["**all types**", *(sum(n for (_, st), n in o.by_state_and_type.items() if st == state)
                                 for state in STATE_WORDS), sum(o.by_state_and_type.values())]
    return markdown_table(["alert type", *STATE_WORDS.values(), "all"], [*rows, totals])
