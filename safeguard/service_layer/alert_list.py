"""The alerts as a list for `safeguard alerts`: references, states, types, providers, ages and review
dates. Names only when asked for, and every such listing is written to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from safeguard.adapters.register.orm import Alert, AlertVersion, Delivery
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.status import AlertStatus
from safeguard.service_layer.retention import ERASED


class UnknownState(ValueError):
    """--state named no status; the message lists the ones there are."""


@dataclass(frozen=True)
class AlertRow:
    reference: str
    state: str
    alert_type: str
    providers: tuple[str, ...]  # the providers that hold it (or, while it waits, the ones on the form)
    created_at: datetime
    review_date: date
    names: str = ""  # the subjects' names: only with show_names


def parse_state(text: str | None) -> AlertStatus | None:
    if text is None:
        return None
    wanted = text.strip().upper().replace("-", "_").replace(" ", "_")
    for status in AlertStatus:
        if wanted in (status.value, status.value.removeprefix("AWAITING_")):
            return status
    raise UnknownState(f"There is no state {text!r}. Use one of: "
                       + ", ".join(s.value.lower() for s in AlertStatus) + ".")


def list_alerts(uow: Callable[[], UnitOfWork], *, state: AlertStatus | None = None,
                provider: str | None = None, show_names_for: str | None = None,
                now: datetime) -> list[AlertRow]:
    """`show_names_for` is who asked to see names: the listing is audited under that name."""
    with uow() as u:
        query = select(Alert).order_by(Alert.id)
        if state is not None:
            query = query.where(Alert.status == state)
        alerts = list(u.session.scalars(query))
        held = _providers(u, [a.id for a in alerts])
        rows = [AlertRow(a.reference, a.status, a.alert_type, held.get(a.id) or _on_form(u, a),
                         a.created_at, a.review_date, _names(u, a) if show_names_for else "")
                for a in alerts]
        if provider:
            rows = [r for r in rows if provider.strip().upper() in r.providers]
        if show_names_for:
            u.register.audit(actor=show_names_for, action="alerts listed with names", at=now,
                             state=state.value if state else "any", provider=provider or "any",
                             references=[r.reference for r in rows])
            u.commit()
    return rows


def _providers(u: UnitOfWork, alert_ids: list[int]) -> dict[int, tuple[str, ...]]:
    held: dict[int, list[str]] = {}
    for alert_id, code in u.session.execute(select(Delivery.alert_id, Delivery.provider_code)
                                            .where(Delivery.alert_id.in_(alert_ids)).order_by(Delivery.id)):
        held.setdefault(alert_id, []).append(code)
    return {k: tuple(v) for k, v in held.items()}


def _current_form(u: UnitOfWork, alert: Alert) -> dict | None:  # the form's JSON
    version = u.session.scalars(select(AlertVersion).where(AlertVersion.alert_id == alert.id)
                                .order_by(AlertVersion.version.desc())).first()
    return None if version is None or version.form.get(ERASED) else version.form


def _on_form(u: UnitOfWork, alert: Alert) -> tuple[str, ...]:
    form = _current_form(u, alert)
    return tuple(form.get("providers", ())) if form else ()


def _names(u: UnitOfWork, alert: Alert) -> str:
    form = _current_form(u, alert)
    if form is None:
        return "(erased)"
    return "; ".join(" ".join(p for p in (s.get("forenames"), s.get("surname")) if p)
                     for s in form.get("subjects", []))
