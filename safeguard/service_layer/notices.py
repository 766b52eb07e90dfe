"""Notices to providers: who may receive one, and writing each to the outbox before it is sent.

Recipients come only from the agreed directory in config/; a provider whose domain is not
secure is refused or gets the secure subject marker, as config says. Each notice has a unique
outbox key (alert, version, provider, kind), so a retry never sends a second copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, Delivery, OutboxEntry
from safeguard.adapters.register.repository import Register
from safeguard.domain.config import Config
from safeguard.domain.config.models import Provider
from safeguard.domain.forms.diff import Change
from safeguard.domain.forms.model import HealthAlertForm
from safeguard.domain.status import DeliveryStatus
from safeguard.service_layer.photos import notice_attachments
from safeguard.service_layer.replies import sender_of

_STATUS = re.compile(r"\b([45]\.\d{1,3}\.\d{1,3})\b")
NoticeKind = Literal["alert", "update", "withdrawal", "extension", "reinstatement"]
TEMPLATE: dict[str, str] = {"alert": "alert_notice", "update": "update_notice",
                            "withdrawal": "withdrawal_notice", "extension": "extension_notice",
                            "reinstatement": "reinstatement_notice"}


@dataclass(frozen=True)
class Target:
    provider: Provider
    marker: str  # "" or the secure subject marker


@dataclass(frozen=True)
class NotSent:
    code: str
    why: str  # plain English, no personal data


def is_secure(config: Config, provider: Provider) -> bool:
    """Both must hold: the directory marks the mailbox secure, and its domain is on the secure list
    (nhs.net or a DCB1596-accredited domain), so one mistyped entry cannot open an insecure route."""
    return provider.secure and config.is_secure_address(provider.mailbox)


def resolve(config: Config, codes: list[str] | tuple[str, ...]) -> tuple[list[Target], list[NotSent]]:
    """The directory entries for these codes, and why any cannot be sent to."""
    service = config.settings.service
    targets: list[Target] = []
    refused: list[NotSent] = []
    for code in dict.fromkeys(c.strip().upper() for c in codes):
        provider = config.provider(code)
        if provider is None:
            refused.append(NotSent(code, "is no longer in the agreed provider directory"))
        elif is_secure(config, provider):
            targets.append(Target(provider, ""))
        elif service.insecure_recipients == "marker":
            targets.append(Target(provider, service.secure_subject_marker))
        else:
            refused.append(NotSent(code, f"has a mailbox on {provider.domain}, which is not a secure domain"))
    return targets, refused


def notice_key(alert: Alert, version: int, code: str, kind: str, occasion: str = "") -> str:
    """(alert, version, provider, kind), plus what distinguishes repeats of a kind (an extension's date)."""
    return f"notice:{alert.reference}:v{version}:{code}:{kind}" + (f":{occasion}" if occasion else "")


def queue_notice(register: Register, config: Config, *, alert: Alert, version: int, target: Target,
                 kind: NoticeKind, form: HealthAlertForm, at: datetime, changes: list[Change] | None = None,
                 reason: str | None = None, occasion: str = "", inbound_id: int | None = None) -> None:
    """Write one provider's notice to the outbox and record it against that provider's delivery."""
    provider = target.provider
    key = notice_key(alert, version, provider.code, kind, occasion)
    rendered = render_email(TEMPLATE[kind], service=config.settings.service, alert=alert, form=form,
                            provider=provider, marker=target.marker, changes=changes or [], reason=reason,
                            version=version)
    queue_email(register, key=key, kind=f"notice:{kind}", rendered=rendered, sender=sender_of(config),
                recipients=[provider.mailbox], at=at, alert_id=alert.id, inbound_id=inbound_id,
                attachments=notice_attachments(register, alert, version, kind, form.photo_attached))
    delivery = register.delivery(alert, provider.code)
    if delivery is None:
        delivery = register.add(Delivery(alert_id=alert.id, provider_code=provider.code,
                                         mailbox=provider.mailbox, status="notified", version=version,
                                         notice_key=key, notified_at=at))
    elif kind in ("alert", "update", "reinstatement"):  # it asks for acknowledgement: the clock starts again
        delivery.status, delivery.acknowledged_at, delivery.withdrawn_at = "notified", None, None
        delivery.chased_at = delivery.escalated_at = None
        delivery.failed_at, delivery.failure = None, None
        delivery.notified_at = at
    delivery.mailbox, delivery.version, delivery.notice_key = provider.mailbox, version, key
    if kind == "withdrawal":
        delivery.status, delivery.withdrawn_at = "withdrawn", at
    register.audit(actor="system", action=f"{kind} notice queued", at=at, alert_ref=alert.reference,
                   provider=provider.code, version=version, key=key)


def tell_admin(register: Register, config: Config, alert: Alert, headline: str, lines: list[str], *, key: str,
               at: datetime, inbound_id: int | None = None) -> None:
    """An email to the admin team about one alert: a headline and plain lines, no personal data."""
    service = config.settings.service
    queue_email(register, key=key, kind="admin:attention",
                rendered=render_email("admin_attention", service=service, alert=alert, headline=headline,
                                      lines=lines),
                sender=sender_of(config), recipients=[service.admin_team], at=at, alert_id=alert.id,
                inbound_id=inbound_id)


def undelivered(register: Register, config: Config, entry: OutboxEntry, why: str, *, at: datetime,
                inbound_id: int | None = None) -> str | None:
    """An email that will never arrive: refused for good by our mail server when sent, or bounced
    later by the recipient's (a delivery-status notification). If it was a provider's latest notice
    of an alert, that provider's delivery becomes "failed" (it is no longer chased for an
    acknowledgement; the nightly reconciliation lists it). The admin team is told at once to phone
    the recipient. `why` is the status and the server's words, never message content. Returns the
    admin email's outbox key, or None when no one is told (not about an alert, or itself to the
    admin team: the nightly digest lists those)."""
    alert = register.get(Alert, entry.alert_id) if entry.alert_id is not None else None
    if alert is None or entry.kind.startswith("admin:"):
        return None
    parts = entry.key.split(":")
    code = parts[3] if entry.kind.startswith("notice:") and len(parts) > 3 else None
    if code is None:
        what, whom = f"an email ({entry.kind})", "its recipient"
    else:
        provider = config.provider(code)
        what = (f"the {entry.kind.removeprefix('notice:')} notice to "
                f"{provider.name if provider else code} ({code})")
        whom = "the provider"
        _delivery_failed(register, alert, code, entry.key, why, at)
    key = f"undeliverable:{entry.key}"
    status = _STATUS.search(why)
    tell_admin(register, config, alert,
               f"{what} could not be delivered{f' ({status.group(1)})' if status else ''}: "
               f"phone {whom} today", [f"The mail server's report: {why}.",
                f"Phone {whom} today with the alert reference, then correct their address "
                "(config/providers.yaml for a provider) so that later notices reach them."],
               key=key, at=at, inbound_id=inbound_id)
    return key


def _delivery_failed(register: Register, alert: Alert, code: str, notice_key: str, why: str,
                     at: datetime) -> None:
    delivery = register.delivery(alert, code)
    if delivery is None or delivery.notice_key != notice_key or delivery.status == DeliveryStatus.FAILED:
        return  # an earlier notice, since followed by another (the later one stands), or told already
    delivery.status, delivery.failed_at, delivery.failure = DeliveryStatus.FAILED, at, why[:300]
    register.audit(actor="system", action="notice not delivered", at=at, alert_ref=alert.reference,
                   provider=code, version=delivery.version, key=notice_key, failure=why[:300])
