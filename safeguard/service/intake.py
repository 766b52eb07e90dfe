"""Intake of one message: fetch, deduplicate, parse, decide, commit, reply, then move.

The order is the guarantee: a message leaves INBOX only after its outcome is committed, and
its replies are in the outbox before they are sent. Killed at any point, the next run finds
the message again, sees it in the register, sends what is unsent, and files it: once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError

from safeguard.config import Config
from safeguard.faults import checkpoint
from safeguard.mail.inbound import Inbound, parse_inbound
from safeguard.mail.port import Folder, Mailbox, MailboxError
from safeguard.notify.outbox import send_entry
from safeguard.register.orm import InboundMessage
from safeguard.register.uow import UnitOfWork
from safeguard.service.recording import record_decision
from safeguard.service.triage import AlertFacts, Decision, triage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one message: ids and codes only, safe for logs and Prefect."""

    mailbox_id: str
    inbound_id: int | None
    outcome: str  # accepted | invalid | recorded | quarantined | duplicate | gone | deferred
    reason: str
    reference: str | None = None
    folder: str | None = None


@dataclass(frozen=True)
class IntakeContext:
    config: Config
    mailbox: Mailbox
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]


def process_batch(mailbox_ids: list[str], ctx: IntakeContext) -> list[IntakeResult]:
    """Each message on its own: one that cannot be finished now (register or mailbox down) is
    reported as deferred and stays in INBOX for the next run; the rest of the batch goes on."""
    results = []
    for mailbox_id in mailbox_ids:
        try:
            results.append(process_message(mailbox_id, ctx))
        except Exception as exc:  # noqa: BLE001 - one message must never stop the batch
            reason = deferral_reason(exc)
            log.warning("message %s deferred: %s", mailbox_id, reason)
            results.append(IntakeResult(mailbox_id, None, "deferred", reason))
    return results


def deferral_reason(exc: BaseException) -> str:
    """Why a message was left for the next run, in plain words and without any message content
    (this reaches logs and Prefect)."""
    if isinstance(exc, MailboxError):
        return str(exc)  # the adapters' own words, which never quote a message
    if isinstance(exc, DBAPIError | OSError):
        return "the register (database) could not be reached"
    return f"an unexpected {type(exc).__name__}"


def process_message(mailbox_id: str, ctx: IntakeContext) -> IntakeResult:
    raw = ctx.mailbox.fetch(mailbox_id)
    if raw is None:
        return IntakeResult(mailbox_id, None, "gone", "no longer in INBOX")
    checkpoint("after_fetch")
    row_id, folder, result = _record(mailbox_id, raw, ctx)
    checkpoint("after_commit")
    send_unsent(ctx, inbound_id=row_id)
    checkpoint("before_move")
    ctx.mailbox.move(mailbox_id, Folder(folder))
    checkpoint("after_move")
    with ctx.uow() as u:
        row = u.session.get(InboundMessage, row_id)
        if row is not None and row.filed_at is None:
            row.filed_at = ctx.clock()
            u.commit()
    return result


def _record(mailbox_id: str, raw: bytes, ctx: IntakeContext) -> tuple[int, str, IntakeResult]:
    inbound = _read(raw, ctx.config)
    checkpoint("after_parse")
    for _attempt in (1, 2):
        with ctx.uow() as u:
            existing = u.register.message_by_key(inbound.dedup_key)
            if existing is not None:
                return existing.id, existing.folder, _seen_before(u, existing, mailbox_id, ctx.clock())
            now = ctx.clock()
            decision = _decide(inbound, ctx, now, u)
            try:
                row, alert = record_decision(u.register, ctx.config, inbound, decision, mailbox_id, now)
                u.commit()
            except IntegrityError:  # another worker recorded the same message first (at flush or commit)
                continue
            checkpoint("after_outbox")
            return row.id, row.folder, IntakeResult(mailbox_id, row.id, decision.outcome, decision.reason,
                                                    alert.reference if alert else decision.alert_ref, row.folder)
    raise RuntimeError("could not record the message after a concurrent insert")


def _read(raw: bytes, config: Config) -> Inbound:
    if len(raw) > config.settings.limits.max_message_mb * 1024 * 1024:
        headers = BytesHeaderParser().parsebytes(raw[:256 * 1024])
        inbound = parse_inbound(b"".join(f"{k}: {v}\r\n".encode(errors="replace") for k, v in headers.items())
                                + b"\r\n")
        inbound.header_faults.append("the message is larger than the size limit")
        return inbound
    return parse_inbound(raw)


def _decide(inbound: Inbound, ctx: IntakeContext, now: datetime, u: UnitOfWork) -> Decision:
    today = now.astimezone(ZoneInfo(ctx.config.settings.service.timezone)).date()

    def find_alert(reference: str) -> AlertFacts | None:
        alert = u.register.alert(reference)
        if alert is None:
            return None
        tz = ZoneInfo(ctx.config.settings.service.timezone)
        return AlertFacts(alert.reference, alert.status,
                          frozenset({alert.social_worker_email, alert.team_manager_email, alert.submitted_by}),
                          notified=frozenset(d.mailbox for d in u.register.deliveries(alert)),
                          alert_type=alert.alert_type, created_on=alert.created_at.astimezone(tz).date())

    try:
        return triage(inbound, ctx.config, today, find_alert)
    except Exception as exc:  # noqa: BLE001 - one bad message must never stop the batch
        log.warning("triage failed for a message (%s); quarantining it", type(exc).__name__,
                    extra={"error_type": type(exc).__name__})
        return Decision("unknown", "quarantined", "processing-error",
                        "The message could not be processed automatically; a person needs to look at it.",
                        tell_admin=True)


def _seen_before(u: UnitOfWork, row: InboundMessage, mailbox_id: str, now: datetime) -> IntakeResult:
    if row.mailbox_id != mailbox_id:
        row.copies += 1
        u.register.audit(actor="system", action="duplicate copy received", at=now, inbound_id=row.id)
        u.commit()
        return IntakeResult(mailbox_id, row.id, "duplicate", "already recorded", None, row.folder)
    return IntakeResult(mailbox_id, row.id, row.outcome, row.reason, None, row.folder)


def send_unsent(ctx: IntakeContext, inbound_id: int | None = None, alert_id: int | None = None) -> dict[str, int]:
    """Send what the outbox holds unsent (for one message, one alert, or all). Temporary failures stay queued."""
    with ctx.uow() as u:
        if inbound_id:
            entries = u.register.unsent_for_message(inbound_id)
        elif alert_id:
            entries = u.register.unsent_for_alert(alert_id)
        else:
            entries = u.register.unsent()
        ids = [e.id for e in entries]
    counts: dict[str, int] = {}
    while ids:
        entry_id = ids.pop(0)
        try:
            status = send_entry(entry_id, mailbox=ctx.mailbox, uow=ctx.uow, now=ctx.clock)
        except MailboxError:
            status = "deferred"
        counts[status] = counts.get(status, 0) + 1
        if status == "failed":
            ids += tell_admin_undeliverable(ctx, entry_id)
    return counts


def tell_admin_undeliverable(ctx: IntakeContext, entry_id: int) -> list[int]:
    """An email about an alert that the mail server refused for good (a provider's address that no
    longer exists, say): the admin team must phone that provider today. Returns the new entry's id."""
    from safeguard.register.orm import Alert, OutboxEntry
    from safeguard.service.notices import tell_admin

    with ctx.uow() as u:
        entry = u.session.get(OutboxEntry, entry_id)
        if entry is None or entry.alert_id is None or entry.kind.startswith("admin:"):
            return []  # not about an alert, or itself to the admin team: the nightly digest lists it
        alert = u.session.get(Alert, entry.alert_id)
        assert alert is not None
        parts = entry.key.split(":")
        what = f"the {entry.kind.removeprefix('notice:')} notice to {parts[3]}" if entry.kind.startswith("notice:") \
            and len(parts) > 3 else f"an email ({entry.kind})"
        key = f"undeliverable:{entry.key}"
        tell_admin(u.register, ctx.config, alert, f"{what} could not be delivered",
                   [f"The mail server refused it for good: {entry.last_error or 'no reason given'}.",
                    "Phone the recipient today with the alert reference, then correct their address "
                    "(config/providers.yaml for a provider) so that later notices reach them."],
                   key=key, at=ctx.clock())
        u.commit()
        return [e.id for e in u.register.unsent_for_alert(alert.id) if e.key == key]
