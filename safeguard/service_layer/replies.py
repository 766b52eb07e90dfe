"""Which emails a decision produces, queued in the outbox in the same transaction as the decision."""

from __future__ import annotations

from datetime import datetime

from safeguard.adapters.notify.outbox import Sender, queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, InboundMessage
from safeguard.adapters.register.repository import Register
from safeguard.domain.commands import FgmFile
from safeguard.domain.config import Config
from safeguard.domain.status import Outcome
from safeguard.domain.triage import Decision

MAX_ERRORS_LISTED = 200


def sender_of(config: Config) -> Sender:
    service = config.settings.service
    return Sender(service.mailbox_address, service.name)


def queue_replies(register: Register, config: Config, row: InboundMessage, decision: Decision,
                  alert: Alert | None, in_reply_to: str | None, at: datetime, result: object = None,
                  shared: list[str] | None = None) -> None:
    """`shared`: "another active alert shares a subject: HSA-…" lines for the sender's receipt."""
    service = config.settings.service
    unused_key = register.is_new(row)  # the keys below are made from its id
    common = {"service": service, "decision": decision, "inbound_id": row.id, "alert": alert,
              "received_at": row.received_at, "providers": _providers(config, decision), "result": result,
              "shared": shared or []}
    if decision.reply == "fgm_received":
        errors = decision.fgm.errors if decision.fgm else []
        common.update(errors=errors[:MAX_ERRORS_LISTED], more=max(0, len(errors) - MAX_ERRORS_LISTED),
                      problem=None if decision.outcome == Outcome.RECORDED else decision.explanation,
                      filename=decision.command.file if isinstance(decision.command, FgmFile) else "",
                      on_errors=config.fgm.on_errors)
    reply = getattr(result, "reply", None) or decision.reply  # a command's result may answer otherwise
    if reply and row.sender:
        queue_email(register, key=f"reply:{row.id}", kind=f"reply:{reply}",
                    rendered=render_email(reply, **common), sender=sender_of(config),
                    recipients=[row.sender], at=at, inbound_id=row.id, alert_id=alert.id if alert else None,
                    in_reply_to=row.message_id, unused_key=unused_key)
    if decision.tell_admin:
        queue_email(register, key=f"admin:{row.id}", kind="admin:quarantine",
                    rendered=render_email("quarantine_notice", sender=row.sender or "(none)", **common),
                    sender=sender_of(config), recipients=[service.admin_team], at=at, inbound_id=row.id,
                    unused_key=unused_key)


def _providers(config: Config, decision: Decision) -> list[dict[str, str]]:
    codes = decision.form.providers if decision.form else ()
    return [{"code": c, "name": p.name} for c in codes if (p := config.provider(c))]
