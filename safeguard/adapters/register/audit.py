"""The audit log: append-only and hash-chained, so any edit or deletion is detectable.

hash(n) = sha256(hash(n-1) + canonical JSON of entry n). Appends lock the single audit_head
row (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions are already exclusive), so two
workers can never both extend the same head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguard.adapters.register.locks import locked_once
from safeguard.adapters.register.orm import AuditEntry, AuditHead

GENESIS = "0" * 64


def _digest(prev: str, seq: int, at: datetime, actor: str, action: str, alert_ref: str | None,
            inbound_id: int | None, detail: dict[str, Any]) -> str:
    body = json.dumps([seq, _utc(at).isoformat(), actor, action, alert_ref, inbound_id, detail],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def append(session: Session, *, actor: str, action: str, at: datetime, alert_ref: str | None = None,
           inbound_id: int | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
    head = lock_head(session)
    detail = detail or {}
    at = _utc(at)
    seq = head.seq + 1
    digest = _digest(head.hash, seq, at, actor, action, alert_ref, inbound_id, detail)
    entry = AuditEntry(seq=seq, at=at, actor=actor, action=action, alert_ref=alert_ref, inbound_id=inbound_id,
                       detail=detail, prev_hash=head.hash, hash=digest)
    session.add(entry)
    head.seq, head.hash = seq, digest
    return entry


def lock_head(session: Session) -> AuditHead:
    """The chain's head row, locked until the transaction ends. Migration 0002 seeds it, so every
    writer locks the same existing row. A batch of appends in one transaction costs one lock."""
    return locked_once(session, _HEAD, lambda: session.scalars(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()).one())


_HEAD = "safeguard.audit_head"


@dataclass(frozen=True)
class ChainReport:
    entries: int
    broken_at: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(entries: Iterable[AuditEntry], head: AuditHead | None) -> ChainReport:
    prev, count = GENESIS, 0
    for entry in entries:
        count += 1
        if entry.seq != count:
            return ChainReport(count, entry.seq, "an entry is missing before this one")
        if entry.prev_hash != prev:
            return ChainReport(count, entry.seq, "the link to the previous entry does not match")
        expected = _digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.alert_ref,
                           entry.inbound_id, entry.detail)
        if expected != entry.hash:
            return ChainReport(count, entry.seq, "the entry was changed after it was written")
        prev = entry.hash
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(count, count + 1, "entries at the end of the log were removed")
    return ChainReport(count, None)


def verify_session(session: Session) -> ChainReport:
    return verify(_stream(session), session.get(AuditHead, 1))


def _stream(session: Session) -> Iterator[AuditEntry]:
    yield from session.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
