"""Review lapse: the working day after an alert's review date passes with the alert still active,
each provider holding it is told "active pending review: keep the flag" (on_review_lapse: notify),
or the alert is withdrawn through the usual path (on_review_lapse: withdraw: a withdrawal request
for the safeguarding team, or at once if withdrawal_needs_approval is false). Once per review date:
the outbox key names it, so an extension followed by another lapse is a new event."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime

from safeguard.adapters.register.orm import Alert
from safeguard.adapters.register.repository import Register
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.config import Config
from safeguard.domain.status import ACTIVE, DeliveryStatus
from safeguard.service_layer.due import Due
from safeguard.service_layer.withdrawal import request_withdrawal, withdraw_at_once

LAPSE_REASON = "Other: the review date passed with no extension or withdrawal"


def due_lapses(register: Register, config: Config, calendar: WorkingDays, today: date) -> Iterator[Due]:
    for alert in register.active_alerts():
        if today < calendar.add(alert.review_date, 1):
            continue
        key = f"reminder:review-lapse:{alert.reference}:{alert.review_date}"
        data = {"reference": alert.reference, "alert_type": alert.alert_type, "urgency": alert.urgency,
                "review_date": alert.review_date}
        if config.timescales.on_review_lapse == "withdraw":
            yield Due("review-lapse-withdrawal", f"{key}:withdraw", alert.reference,
                      "review_lapse_withdrawal",
                      tuple(dict.fromkeys((alert.social_worker_email, alert.team_manager_email))),
                      {**data, "needs_approval": config.settings.service.withdrawal_needs_approval},
                      alert.id, mark=_withdrawer(config, alert.id))
            continue
        names = {p.code: p.name for p in config.providers}
        for delivery in register.deliveries(alert):
            if delivery.status == DeliveryStatus.NOTIFIED:
                yield Due("review-lapse", f"{key}:{delivery.provider_code}", alert.reference,
                          "review_lapse_notice", (delivery.mailbox,),
                          {**data, "code": delivery.provider_code,
                           "provider_name": names.get(delivery.provider_code, delivery.provider_code)},
                          alert.id)


def _withdrawer(config: Config, alert_id: int) -> Callable[[Register, datetime], None]:
    def withdraw(register: Register, at: datetime) -> None:
        alert = register.get(Alert, alert_id)
        if alert is None or alert.status != ACTIVE:
            return
        if config.settings.service.withdrawal_needs_approval:
            request_withdrawal(register, alert, LAPSE_REASON, "system", at, None)
        else:
            withdraw_at_once(register, config, alert, LAPSE_REASON, "system", at, None)
    return withdraw
