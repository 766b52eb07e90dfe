"""Nightly reconciliation: the mailbox, the outbox and the register must tell the same story.

Findings carry codes, references, register ids and counts: never names or case details, so the
report can go to Prefect and to the admin team's digest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, func, or_, select

from safeguard.adapters.mail.port import FILING_FOLDERS, Folder, Mailbox
from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.audit_check import checkpoint, verify_incremental
from safeguard.adapters.register.orm import (
    Alert,
    Delivery,
    InboundMessage,
    MailboxState,
    OutboxEntry,
    ProviderDigest,
)
from safeguard.adapters.register.repository import UNSENT, Register
from safeguard.domain.config import Config
from safeguard.domain.status import ACTIVE, WITHDRAWN, DeliveryStatus, OutboxStatus
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.sending import send_unsent

CHECKS: dict[str, str] = {
    "mail-not-in-register": "a message in a filing folder has no register record",
    "register-not-in-folder": "a message the register filed is not in its folder",
    "recorded-not-filed": "a message recorded in the register is still in INBOX",
    "inbox-stale": "a message has waited in INBOX longer than limits.inbox_stale_minutes "
                   "(by mailbox id and age)",
    "sent-not-in-sent-folder": "an email the outbox marks sent is not in the Sent folder",
    "sent-folder-not-in-outbox": "an email of ours in the Sent folder is not marked sent in the outbox",
    "email-not-sent": "an email has waited in the outbox for over an hour, or failed",
    "withdrawal-incomplete": "a withdrawn alert is still held by a provider that received it",
    "approval-overdue": "an alert has waited for approval longer than the limit",
    "review-passed": "an active alert is past its review date",
    "audit-chain-broken": "the audit log's chain does not verify: tell the information governance lead",
    "directory-changed": "a provider holding an active alert has left the directory or changed mailbox",
    "delivery-failed": "a provider's notice of an active alert never arrived (bounced or refused): "
                       "phone them",
    "digest-unconfirmed": "a provider has not confirmed its latest \"alerts you hold\" digest, and the admin "
                          "team was told (by digest reference)",
}
Add = Callable[["Finding"], None]
OUR_MESSAGE_ID = re.compile(r"^<[0-9a-f]{40}@")


@dataclass(frozen=True)
class Finding:
    check: str
    # an alert reference, "message #id", "email #id", a mailbox id or a folder: never personal data
    subject: str
    detail: str = ""


@dataclass
class ReconcileReport:
    at: datetime
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        found = Counter(f.check for f in self.findings)
        return {check: found.get(check, 0) for check in CHECKS}

    def rows(self) -> list[dict[str, object]]:
        by_check: dict[str, list[str]] = {}
        for f in self.findings:
            by_check.setdefault(f.check, []).append(f.subject)
        return [{"check": check, "meaning": meaning, "count": len(by_check.get(check, [])),
                 "where": ", ".join(by_check.get(check, [])[:50])} for check, meaning in CHECKS.items()]


def reconcile(register: Register, mailbox: Mailbox, config: Config, now: datetime) -> ReconcileReport:
    report = ReconcileReport(now)
    add = report.findings.append
    _mail_and_register(register, mailbox, add)
    _stale_inbox(mailbox, now, timedelta(minutes=config.settings.limits.inbox_stale_minutes), add)
    _outbox_and_sent(register, mailbox, now, add)
    _withdrawals(register, add)
    limit = timedelta(hours=config.timescales.approval_wait_limit_hours)
    for alert, version in register.versions_awaiting_decision():
        if now - version.created_at > limit:
            add(Finding("approval-overdue", alert.reference, f"version {version.version}, waiting since "
                        f"{config.local(version.created_at):%d/%m %H:%M}"))
    today = config.local_date(now)
    for alert in register.active_alerts(review_before=today):
        if alert.review_date < today:
            add(Finding("review-passed", alert.reference, f"review date {alert.review_date:%d/%m/%Y}"))
    _directory(register, config, add)
    _failed_deliveries(register, add)
    _unconfirmed_digests(register, add)
    _audit_chain(register, now, add)
    return report


def _stream(register: Register, query: Select[Any]) -> Iterator[Row[Any]]:
    """Rows of a narrow query, a thousand at a time (never the whole table in memory as objects)."""
    yield from register.session.execute(query.execution_options(yield_per=STREAM))


STREAM = 1000


def _mail_and_register(register: Register, mailbox: Mailbox, add: Add) -> None:
    """The filing folders and the register agree. Mail filed before retention's watermark was deleted
    on purpose, so the register is asked only for rows filed since, and for the Message-IDs the
    folders hold: the run reads what retention keeps (retention.mail_days), not years of rows."""
    deleted_through = _mail_deleted_through(register)
    in_folder = {str(folder): set(mailbox.message_ids(folder)) for folder in FILING_FOLDERS}
    recorded = _held(register, InboundMessage.message_id, set().union(*in_folder.values()))
    for folder, ids in in_folder.items():
        for _unknown in ids - recorded - {""}:
            add(Finding("mail-not-in-register", folder, "a message the register has no record of"))
    filed = select(InboundMessage.id, InboundMessage.message_id, InboundMessage.folder).where(
        InboundMessage.message_id.is_not(None), InboundMessage.filed_at.is_not(None))
    if deleted_through is not None:
        filed = filed.where(InboundMessage.filed_at >= deleted_through)
    for row_id, mid, folder in _stream(register, filed):
        if mid.strip() and mid.strip() not in in_folder.get(folder, set()):
            add(Finding("register-not-in-folder", f"message #{row_id}", f"expected in {folder}"))
    waiting = set(mailbox.message_ids(Folder.INBOX)) - {""}
    for (row_id,) in _in_batches(register, select(InboundMessage.id).where(InboundMessage.filed_at.is_(None)),
                                 InboundMessage.message_id, waiting):
        add(Finding("recorded-not-filed", f"message #{row_id}", "recorded but not yet filed"))


def _in_batches(register: Register, query: Select[Any], column: Any, values: set[str]) -> Iterator[Row[Any]]:
    """The query's rows whose `column` is one of `values`, asked BATCH values at a time."""
    ordered = sorted(values)
    for start in range(0, len(ordered), BATCH):
        yield from register.session.execute(query.where(column.in_(ordered[start:start + BATCH])))


def _held(register: Register, column: Any, values: set[str], *where: Any) -> set[str]:
    """Which of these values the register holds in `column`."""
    return {str(value).strip() for (value,) in _in_batches(register, select(column).where(*where), column,
                                                            values - {""})}


BATCH = 500


def _stale_inbox(mailbox: Mailbox, now: datetime, limit: timedelta, add: Add) -> None:
    """Whatever has waited in INBOX longer than the limit, for whatever reason, oldest first: its
    mailbox id and how long it has waited, nothing from the message itself. One listing of INBOX."""
    waiting = sorted((arrived, mailbox_id) for mailbox_id, arrived in mailbox.arrivals().items()
                     if now - arrived > limit)
    for arrived, mailbox_id in waiting:
        add(Finding("inbox-stale", f"{mailbox_id} ({_age(now - arrived)})", "waiting in INBOX"))


def _age(waited: timedelta) -> str:
    minutes = int(waited.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // (24 * 60)} days"


def _outbox_and_sent(register: Register, mailbox: Mailbox, now: datetime, add: Add) -> None:
    """Every email marked sent is in Sent and the other way round (message ids only: the stored emails,
    in their own table, are never read); the unsent and failed ones come from the status index. As
    for the filing folders, only what retention keeps is compared."""
    sent_folder = set(mailbox.message_ids(Folder.SENT))
    deleted_through = _mail_deleted_through(register)
    marked = select(OutboxEntry.id, OutboxEntry.message_id, OutboxEntry.kind).where(
        OutboxEntry.status == OutboxStatus.SENT)
    if deleted_through is not None:
        marked = marked.where(or_(OutboxEntry.sent_at.is_(None), OutboxEntry.sent_at >= deleted_through))
    for entry_id, message_id, kind in _stream(register, marked):
        if message_id not in sent_folder:
            add(Finding("sent-not-in-sent-folder", f"email #{entry_id}", kind))
    for entry_id, kind, status, created_at in register.session.execute(select(
            OutboxEntry.id, OutboxEntry.kind, OutboxEntry.status, OutboxEntry.created_at)
            .where(OutboxEntry.status.in_((*UNSENT, OutboxStatus.FAILED))).order_by(OutboxEntry.id)):
        if status == OutboxStatus.FAILED or now - created_at > timedelta(hours=1):
            add(Finding("email-not-sent", f"email #{entry_id}", f"{kind}: {status}"))
    ours = {mid for mid in sent_folder if OUR_MESSAGE_ID.match(mid)}
    for _mid in sorted(ours - _held(register, OutboxEntry.message_id, ours,
                                    OutboxEntry.status == OutboxStatus.SENT)):
        add(Finding("sent-folder-not-in-outbox", "Sent", "an email with one of our Message-IDs"))


def _audit_chain(register: Register, now: datetime, add: Add) -> None:
    """The chain since its last checkpoint; a clean check stores a new checkpoint (committed with the
    run), so each night walks only the day's entries (`safeguard audit verify --full` walks all)."""
    chain = verify_incremental(register.session)
    if chain.ok:
        checkpoint(register.session, chain, now)
    else:
        add(Finding("audit-chain-broken", f"entry {chain.broken_at}", chain.reason))


def _mail_deleted_through(register: Register) -> datetime | None:
    """Mail filed or sent before this was deleted by retention on purpose (retention.py)."""
    from safeguard.service_layer.retention import MAIL_WATERMARK
    row = register.session.get(MailboxState, MAIL_WATERMARK)
    return datetime.fromisoformat(row.value) if row else None


def _withdrawals(register: Register, add: Add) -> None:
    """Each withdrawn alert's deliveries with the status of their last notice, in one join (not one
    query a delivery); a delivery whose withdrawal was sent is what nearly all rows are, and it is
    left out in SQL."""
    notice = OutboxEntry.status
    rows = register.session.execute(
        select(Alert.reference, Delivery.provider_code, Delivery.status, Delivery.failure, notice)
        .join(Delivery, Delivery.alert_id == Alert.id)
        .outerjoin(OutboxEntry, OutboxEntry.key == Delivery.notice_key)
        .where(Alert.status == WITHDRAWN,
               or_(Delivery.status != DeliveryStatus.WITHDRAWN, notice.is_(None),
                   notice != OutboxStatus.SENT))
        .order_by(Delivery.id))
    for reference, code, status, failure, notice_status in rows:
        if status == DeliveryStatus.FAILED:
            add(Finding("withdrawal-incomplete", reference, f"{code}'s last notice was not "
                        f"delivered: {failure or 'no reason given'}"))
        elif status != DeliveryStatus.WITHDRAWN:
            add(Finding("withdrawal-incomplete", reference, f"{code} was never sent a withdrawal"))
        else:
            add(Finding("withdrawal-incomplete", reference,
                        f"{code}'s withdrawal is {notice_status or 'missing'}"))


def _directory(register: Register, config: Config, add: Add) -> None:
    rows = register.session.execute(select(Alert.reference, Delivery).join(Delivery,
                                                                           Delivery.alert_id == Alert.id)
                                    .where(Alert.status == ACTIVE,
                                           Delivery.status == DeliveryStatus.NOTIFIED)).all()
    for reference, delivery in rows:
        provider = config.provider(delivery.provider_code)
        if provider is None:
            add(Finding("directory-changed", reference,
                        f"{delivery.provider_code} is no longer in the directory"))
        elif provider.mailbox != delivery.mailbox:
            add(Finding("directory-changed", reference,
                        f"{delivery.provider_code}'s mailbox has changed since the notice was sent"))



def _failed_deliveries(register: Register, add: Add) -> None:
    rows = register.session.execute(select(Alert.reference, Delivery).join(Delivery,
                                                                           Delivery.alert_id == Alert.id)
                                    .where(Alert.status == ACTIVE,
                                           Delivery.status == DeliveryStatus.FAILED)).all()
    for reference, delivery in rows:
        add(Finding("delivery-failed", reference,
                    f"{delivery.provider_code}: {delivery.failure or 'no reason given'}"))


def _unconfirmed_digests(register: Register, add: Add) -> None:
    """Each provider's latest digest, if it is still unconfirmed after its escalation."""
    last = (select(ProviderDigest.provider_code, func.max(ProviderDigest.sent_at).label("sent_at"))
            .group_by(ProviderDigest.provider_code).subquery())
    latest = register.session.scalars(
        select(ProviderDigest)
        .join(last, (last.c.provider_code == ProviderDigest.provider_code)
              & (last.c.sent_at == ProviderDigest.sent_at))
        .where(ProviderDigest.confirmed_at.is_(None), ProviderDigest.escalated_at.is_not(None))
        .order_by(ProviderDigest.provider_code))
    for digest in latest:
        add(Finding("digest-unconfirmed", digest.reference,
                    f"{digest.provider_code}: {len(digest.active)} active listed"))


def run_reconciliation(ctx: IntakeContext) -> ReconcileReport:
    """Reconcile, then queue and send the admin team's digest (one per run)."""
    now = ctx.clock()
    with ctx.uow() as u:
        report = reconcile(u.register, ctx.mailbox, ctx.config, now)
        service = ctx.config.settings.service
        local = ctx.config.local(now)
        rendered = render_email("reconcile_digest", service=service, rows=report.rows(),
                                total=len(report.findings), day=local.date(), at=local)
        queue_email(u.register, key=f"digest:reconcile:{now.isoformat(timespec='seconds')}",
                    kind="admin:digest", rendered=rendered, sender=sender_of(ctx.config),
                    recipients=[service.admin_team], at=now)
        u.register.audit(actor="system", action="reconciliation run", at=now, counts=report.counts())
        u.commit()
    send_unsent(ctx)
    return report


@dataclass(frozen=True)
class NightlyCheck:
    erased: int  # closed alerts whose personal data was erased in this run
    report: ReconcileReport
    audit_intact: bool = True  # the audit chain verified since its last checkpoint


def nightly_check(ctx: IntakeContext) -> NightlyCheck:
    """The nightly run, for the flow's tasks and `safeguard reconcile --without-prefect` alike: erase
    personal data past its retention, check the audit chain since its last checkpoint (and store a new
    one), then reconcile and send the admin team the digest."""
    from safeguard.service_layer.retention import run_retention

    erased = run_retention(ctx)
    report = run_reconciliation(ctx)
    return NightlyCheck(erased, report, report.counts()["audit-chain-broken"] == 0)
