"""Counting the times a message is left in INBOX for the next run, so that none waits for ever.

A message is deferred when something outside it failed (the register or mailbox was down) or a
fault in it alone stopped its recording. Each time is counted (intake_deferrals, keyed by the
mailbox id); after limits.max_deferrals the next run quarantines it and the admin team is told
(see intake._decide). The row goes when the message is recorded. If the register is down the
count cannot be written: that run does not count, which is the safe side.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from safeguard.adapters.mail.inbound import Inbound
from safeguard.adapters.register.orm import IntakeDeferral
from safeguard.adapters.register.uow import UnitOfWork

log = logging.getLogger(__name__)
REASON = "deferred-repeatedly"


@dataclass(frozen=True)
class Deferred:
    """One message deferred this run: its id, why (a code-like phrase, no content), its hash if read."""

    mailbox_id: str
    reason: str
    content_sha256: str | None = None


def rows_for(session: Session, mailbox_ids: Iterable[str]) -> dict[str, IntakeDeferral]:
    ids = list(mailbox_ids)
    if not ids:
        return {}
    rows = session.scalars(select(IntakeDeferral).where(IntakeDeferral.mailbox_id.in_(ids)))
    return {row.mailbox_id: row for row in rows}


def counts(uow: Callable[[], UnitOfWork], mailbox_ids: list[str]) -> dict[str, int]:
    """How often each was deferred before ({} if the register cannot say now)."""
    try:
        with uow() as u:
            return {mailbox_id: row.count for mailbox_id, row in rows_for(u.session, mailbox_ids).items()}
    except DBAPIError:
        return {}


def count(uow: Callable[[], UnitOfWork], deferred: list[Deferred], now: datetime) -> None:
    """Add one to each message's count, in one transaction of its own."""
    if not deferred:
        return
    try:
        with uow() as u:
            rows = rows_for(u.session, (d.mailbox_id for d in deferred))
            for item in deferred:
                row = rows.get(item.mailbox_id)
                if row is None:
                    row = IntakeDeferral(mailbox_id=item.mailbox_id, count=0, first_at=now)
                    u.session.add(row)
                    rows[item.mailbox_id] = row
                row.count += 1
                row.last_at, row.last_reason = now, item.reason[:200]
                row.content_sha256 = item.content_sha256 or row.content_sha256
            u.commit()
    except DBAPIError:  # the register is down: this run's deferrals go uncounted
        log.warning("could not count %d deferred message(s) in the register", len(deferred))


def unfetchable(mailbox_id: str, deferred_before: int) -> Inbound:
    """A stand-in for a message that cannot even be fetched, so that it can be recorded (and
    quarantined) under a key of its own."""
    key = hashlib.sha256(f"unfetchable:{mailbox_id}".encode()).hexdigest()
    return Inbound(message_id=None, sender=None, reply_to=None, subject="", text_body=None, html_body=None,
                   header_faults=["the message could not be fetched from the mailbox"], dedup_key=key,
                   content_sha256="", deferred_before=deferred_before)
