"""Retention, run nightly: personal data past its period (config/settings.yaml `retention`, `exports`,
config/fgm.yaml `retention_days`; each names the Records Management Code of Practice class it follows)
is erased wherever the product put it, and each erasure is audited with counts:

- closed alerts (withdrawn or rejected): their forms, notes, reasons, stored emails and audit details
  (erasure.py); the alert's counts, dates and the audit chain stay;
- FGM records of submissions received before the period; the submissions' counts stay;
- mail in Processed, Rejected, Quarantine and Sent, once the register holds its outcome (filed, or
  sent); never INBOX; with it, the register's own copies of emails and messages tied to no alert. A
  watermark in the register says how far this has gone, so reconcile does not look for mail deleted
  on purpose, and no message is asked for twice;
- files the product wrote: exports, returns, and FGM files taken from the drop folder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select

from safeguard.adapters.mail.port import FILING_FOLDERS, Folder, Mailbox
from safeguard.adapters.private_files import remove_older_than
from safeguard.adapters.register.db import drop_old_page_copies
from safeguard.adapters.register.orm import (
    Alert,
    FgmRecord,
    FgmSubmission,
    InboundMessage,
    MailboxState,
    OutboxBody,
    OutboxEntry,
)
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.domain.status import REJECTED, WITHDRAWN, OutboxStatus
from safeguard.service_layer.erasure import ERASED, already_erased, erase_alert, forget_message
from safeguard.service_layer.intake import IntakeContext

MAIL_WATERMARK = "retention.mail_deleted_through"


ERASE_BATCH = 200  # closed alerts erased in one transaction (see erase_all_expired)


def erase_expired(uow: UnitOfWork, config: Config, now: datetime) -> list[str]:
    """Closed alerts past the period: returns the references erased (the caller commits)."""
    return _erase_some(uow, config, now, None)[0]


def erase_all_expired(uow_factory: Callable[[], UnitOfWork], config: Config, now: datetime) -> list[str]:
    """erase_expired, ERASE_BATCH alerts a transaction until none is left: the first night after an
    upgrade, or after a long outage, may have thousands to erase, and one unit of work holding them
    all grows with them (each alert cost more than the one before)."""
    erased: list[str] = []
    while True:
        with uow_factory() as u:
            references, looked_at = _erase_some(u, config, now, ERASE_BATCH)
            u.commit()
        erased += references
        if looked_at < ERASE_BATCH:
            return erased


def _erase_some(uow: UnitOfWork, config: Config, now: datetime, limit: int | None) -> tuple[list[str], int]:
    """At most `limit` closed alerts past the period, oldest first: the references erased, and how
    many alerts were looked at (each is marked erased, so the next call starts after them)."""
    days = config.settings.retention.closed_alert_personal_data_days
    if days <= 0:
        return [], 0
    cutoff = now - timedelta(days=days)
    register, session = uow.register, uow.session
    alerts = session.scalars(select(Alert).where(Alert.erased_at.is_(None), or_(
        (Alert.status == WITHDRAWN) & (Alert.withdrawn_at < cutoff),
        (Alert.status == REJECTED) & (Alert.updated_at < cutoff))).order_by(Alert.id).limit(limit)).all()
    erased = []
    for alert in alerts:
        versions = register.versions(alert)
        if already_erased(versions):  # erased on request, or before alerts were marked
            alert.erased_at = now
            continue
        counts = erase_alert(register, alert, now, versions).counts()
        register.audit(actor="system", action="personal data erased", at=now, alert_ref=alert.reference,
                       retention_days=days, **counts)
        erased.append(alert.reference)
    return erased, len(alerts)


def erase_fgm(uow: UnitOfWork, config: Config, now: datetime) -> int:
    """FGM records of submissions received before the period: returns how many were erased."""
    days = config.fgm.retention_days
    if days <= 0:
        return 0
    session = uow.session
    old = [s for s in session.scalars(select(FgmSubmission).where(
        FgmSubmission.received_at < now - timedelta(days=days)))
        if s.errors != [{ERASED: True}]]
    if not old:
        return 0
    ids = [s.id for s in old]
    records = session.scalar(select(func.count()).select_from(FgmRecord)
                             .where(FgmRecord.submission_id.in_(ids)))
    session.execute(delete(FgmRecord).where(FgmRecord.submission_id.in_(ids)))
    for submission in old:
        submission.errors = [{ERASED: True}]  # a row's error can quote what was written in it
    uow.register.audit(actor="system", action="FGM records erased", at=now, retention_days=days,
                       submissions=len(old), records=int(records or 0))
    return int(records or 0)


def mail_deleted_through(uow: UnitOfWork) -> datetime | None:
    row = uow.session.get(MailboxState, MAIL_WATERMARK)
    return datetime.fromisoformat(row.value) if row else None


def delete_old_mail(uow_factory: Callable[[], UnitOfWork], mailbox: Mailbox, config: Config,
                    now: datetime) -> dict[str, int]:
    """Mail older than the period whose outcome the register holds, from the filing folders and Sent.
    The mailbox is changed first and the watermark committed after: a failure part way repeats
    (harmlessly) the next night."""
    days = config.settings.retention.mail_days
    if days <= 0:
        return {}
    cutoff = now - timedelta(days=days)
    with uow_factory() as u:
        since = mail_deleted_through(u)
        wanted = _filed_between(u, since, cutoff)
        wanted[str(Folder.SENT)] = _sent_between(u, since, cutoff)
    deleted = {folder: mailbox.delete_filed(Folder(folder), ids) for folder, ids in wanted.items() if ids}
    with uow_factory() as u:
        deleted |= _forget_unlinked(u, since, cutoff)
        _set_watermark(u, cutoff)
        if any(deleted.values()):
            u.register.audit(actor="system", action="mail deleted", at=now, retention_days=days, **deleted)
        u.commit()
    return deleted


def _filed_between(uow: UnitOfWork, since: datetime | None, cutoff: datetime) -> dict[str, set[str]]:
    query = select(InboundMessage.folder, InboundMessage.message_id).where(
        InboundMessage.filed_at.is_not(None), InboundMessage.filed_at < cutoff,
        InboundMessage.folder.in_([str(f) for f in FILING_FOLDERS]), InboundMessage.message_id.is_not(None))
    if since is not None:
        query = query.where(InboundMessage.filed_at >= since)
    found: dict[str, set[str]] = {}
    for folder, message_id in uow.session.execute(query):
        found.setdefault(folder, set()).add(message_id.strip())
    return found


def _sent_between(uow: UnitOfWork, since: datetime | None, cutoff: datetime) -> set[str]:
    query = select(OutboxEntry.message_id).where(OutboxEntry.status == OutboxStatus.SENT,
                                                 OutboxEntry.sent_at < cutoff)
    if since is not None:
        query = query.where(OutboxEntry.sent_at >= since)
    return set(uow.session.scalars(query))


def _forget_unlinked(uow: UnitOfWork, since: datetime | None, cutoff: datetime) -> dict[str, int]:
    """Emails and messages tied to no alert (replies to invalid forms, commands, FGM files) keep their
    stored copy in the register only as long as the mail itself."""
    emails = select(OutboxEntry.id).where(OutboxEntry.alert_id.is_(None), OutboxEntry.sent_at < cutoff,
                                          OutboxEntry.status == OutboxStatus.SENT)
    messages = select(InboundMessage).where(InboundMessage.alert_id.is_(None),
                                            InboundMessage.received_at < cutoff)
    if since is not None:
        emails = emails.where(OutboxEntry.sent_at >= since)
        messages = messages.where(InboundMessage.received_at >= since)
    dropped = uow.session.execute(delete(OutboxBody).where(OutboxBody.outbox_id.in_(emails))
                                  .execution_options(synchronize_session=False))
    counts = {"stored_emails": int(dropped.rowcount or 0), "stored_messages": 0}  # type: ignore[attr-defined]
    for message in uow.session.scalars(messages):
        forget_message(message)
        counts["stored_messages"] += 1
    return counts


def _set_watermark(uow: UnitOfWork, cutoff: datetime) -> None:
    row = uow.session.get(MailboxState, MAIL_WATERMARK, with_for_update=True)
    if row is None:
        uow.session.add(MailboxState(name=MAIL_WATERMARK, value=cutoff.isoformat()))
    else:
        row.value = max(row.value, cutoff.isoformat())


def run_retention(ctx: IntakeContext) -> int:
    """Every retention step, each committed on its own; returns how many closed alerts were erased."""
    now = ctx.clock()
    erased = erase_all_expired(ctx.uow, ctx.config, now)
    with ctx.uow() as u:
        erase_fgm(u, ctx.config, now)
        remove_old_files(u, ctx.config, now)
        u.commit()
    delete_old_mail(ctx.uow, ctx.mailbox, ctx.config, now)
    with ctx.uow() as u:
        engine = u.session.get_bind()
    drop_old_page_copies(engine)  # type: ignore[arg-type]
    return len(erased)


def remove_old_files(uow: UnitOfWork, config: Config, now: datetime) -> int:
    """Exports, returns and FGM files taken in, past their periods (file times are the clock)."""
    exports, stamp = config.settings.exports.retention_days, now.timestamp()
    removed = (remove_older_than(config.settings.exports.folder, exports, stamp)
               + remove_older_than(config.settings.returns.output_dir, exports, stamp))
    drop = config.fgm.drop_folder
    if drop is not None:
        removed += sum(remove_older_than(drop / sub, config.fgm.retention_days, stamp)
                       for sub in ("done", "rejected"))
    if removed:
        uow.register.audit(actor="system", action="files removed", at=now, files=removed,
                           retention_days=exports)
    return removed
