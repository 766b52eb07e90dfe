"""SEEN: a provider holding an alert has seen its subject. The social worker, team manager and admin
team are emailed in the same intake run (the email is queued against the message, so intake sends it
with the message's own replies), with the out-of-hours number for when the social worker is off duty."""

from __future__ import annotations

from datetime import datetime

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, InboundMessage
from safeguard.adapters.register.repository import Register
from safeguard.domain.commands import Seen
from safeguard.domain.config import Config
from safeguard.service_layer.replies import sender_of

NOT_GIVEN = "not given"


def route_seen(register: Register, config: Config, alert: Alert, command: Seen, row: InboundMessage,
               now: datetime) -> None:
    service = config.settings.service
    provider = config.provider_by_address(command.provider_address)
    code = provider.code if provider else command.provider_address
    version = register.alert_version(alert, alert.current_version)
    form = register.form(version) if version is not None else None
    people = [alert.social_worker_email, alert.team_manager_email, service.admin_team]
    key = f"seen:{alert.reference}:{row.id}"
    queue_email(register, key=key, kind="seen:routed",
                rendered=render_email("seen_notice", service=service, alert=alert, form=form, code=code,
                                      provider_name=provider.name if provider else code,
                                      when=command.when or NOT_GIVEN, where=command.where or NOT_GIVEN,
                                      received=config.local(now)),
                sender=sender_of(config), recipients=list(dict.fromkeys(p for p in people if p)), at=now,
                alert_id=alert.id, inbound_id=row.id, unused_key=register.is_new(row))
    register.audit(actor=command.provider_address, action="seen routed", at=now, alert_ref=alert.reference,
                   inbound_id=row.id, provider=code, key=key)
