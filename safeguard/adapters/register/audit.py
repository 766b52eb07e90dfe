"""The audit log: append-only and chained, so any edit or deletion is detectable.

Chain v2 (every entry from the head's `v2_from` on): each entry stores a keyed commitment to its
detail, commitment = HMAC(SAFEGUARD_AUDIT_KEY, canonical JSON of the detail), and its hash is
HMAC(SAFEGUARD_AUDIT_KEY, previous hash + canonical JSON of seq, time, actor, action, alert, message,
commitment). So
- a detail (free text: reasons, notes) can be erased, leaving its commitment and `erased_at`,
  and the chain still verifies;
- nobody can rewrite an entry, or the head, without the audit key, which is separate from the data
  key (SAFEGUARD_DATA_KEYS): holding the data key and write access to the database is not enough.

Chain v1 (entries before `v2_from`, written by earlier versions): hash = sha256(previous hash +
canonical JSON of the entry including its plaintext detail). The first append after the upgrade
verifies the v1 chain and writes a marked entry ("audit chain continued as v2") saying how many
v1 entries there were and whether they verified; v2 continues from it.

Appends lock the single audit_head row (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions
are already exclusive), so two workers can never both extend the same head. The head carries a
MAC over its sequence number, hash and `v2_from`, so cutting entries off the end, or pretending
the chain is still v1, is detected too. Verifying: audit_check.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safeguard.adapters.register.crypto import AUDIT_KEY, KeysMissing, check_keys
from safeguard.adapters.register.locks import locked_once
from safeguard.adapters.register.orm import AuditEntry, AuditHead

if TYPE_CHECKING:
    from safeguard.adapters.register.audit_check import ChainReport

GENESIS = "0" * 64
UPGRADED = "audit chain continued as v2"


def audit_key() -> bytes:
    secret = os.environ.get(AUDIT_KEY, "").strip()
    if not secret:
        check_keys()  # explains, in plain words, which variable to set
        raise KeysMissing(AUDIT_KEY)
    return secret.encode()


def mac(*parts: object) -> str:
    return hmac.new(audit_key(), "|".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def commitment(detail: dict[str, Any]) -> str:
    return mac("detail", _canonical(detail))


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def v1_digest(prev: str, seq: int, at: datetime, actor: str, action: str, alert_ref: str | None,
              inbound_id: int | None, detail: dict[str, Any]) -> str:
    body = _canonical([seq, _utc(at).isoformat(), actor, action, alert_ref, inbound_id, detail])
    return hashlib.sha256((prev + body).encode()).hexdigest()


def v2_digest(prev: str, seq: int, at: datetime, actor: str, action: str, alert_ref: str | None,
              inbound_id: int | None, committed: str) -> str:
    return mac("entry", prev, _canonical([seq, _utc(at).isoformat(), actor, action, alert_ref, inbound_id,
                                          committed]))


def head_mac(head: AuditHead) -> str:
    return mac("head", head.seq, head.hash, head.v2_from)


def append(session: Session, *, actor: str, action: str, at: datetime, alert_ref: str | None = None,
           inbound_id: int | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
    head = lock_head(session)
    if head.v2_from is None:
        _continue_as_v2(session, head, at)
    return _append_v2(session, head, actor=actor, action=action, at=at, alert_ref=alert_ref,
                      inbound_id=inbound_id, detail=detail or {})


def _append_v2(session: Session, head: AuditHead, *, actor: str, action: str, at: datetime,
               alert_ref: str | None, inbound_id: int | None, detail: dict[str, Any]) -> AuditEntry:
    at, seq, committed = _utc(at), head.seq + 1, commitment(detail)
    digest = v2_digest(head.hash, seq, at, actor, action, alert_ref, inbound_id, committed)
    entry = AuditEntry(seq=seq, at=at, actor=actor, action=action, alert_ref=alert_ref, inbound_id=inbound_id,
                       detail=detail, commitment=committed, prev_hash=head.hash, hash=digest)
    session.add(entry)
    head.seq, head.hash = seq, digest
    head.mac = head_mac(head)
    return entry


def _continue_as_v2(session: Session, head: AuditHead, at: datetime) -> None:
    """Once per register: verify the v1 chain, then mark the entry from which v2 continues."""
    from safeguard.adapters.register.audit_check import verify_v1

    session.flush()
    report = verify_v1(session, head)
    head.v2_from = head.seq + 1
    _append_v2(session, head, actor="system", action=UPGRADED, at=at, alert_ref=None, inbound_id=None,
               detail={"v1_entries": report.entries, "v1_intact": report.ok,
                       "v1_broken_at": report.broken_at})


def verify_session(session: Session) -> ChainReport:
    """The whole chain, from its first entry (audit_check.verify_full)."""
    from safeguard.adapters.register.audit_check import verify_full

    return verify_full(session)


def lock_head(session: Session) -> AuditHead:
    """The chain's head row, locked until the transaction ends. Migration 0002 seeds it, so every
    writer locks the same existing row. A batch of appends in one transaction costs one lock."""
    return locked_once(session, _HEAD, lambda: session.scalars(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()).one())


_HEAD = "safeguard.audit_head"


def erase_details(session: Session, seqs: list[int], at: datetime) -> int:
    """Erase the details of these (v2) entries, keeping their commitments: the chain still verifies,
    and `audit verify` lists them as erased. In place of the detail goes a seal, an HMAC of the entry's
    commitment and the erasure time under the audit key, so an erasure cannot be faked without it.
    v1 entries are left (their hash covers the plaintext). Returns how many were erased now."""
    head = session.get(AuditHead, 1)
    v2_from = head.v2_from if head is not None and head.v2_from is not None else None
    wanted = [s for s in seqs if v2_from is not None and s >= v2_from]
    if not wanted:
        return 0
    at = _utc(at)
    # Not "AND erased_at IS NULL" in SQL: nearly every entry matches it, and a planner without
    # statistics (PostgreSQL before its first ANALYZE) ANDs the whole erased_at index into the
    # lookup, a walk of the log for each alert erased. The primary key finds the few entries.
    rows = [(seq, committed) for seq, committed, erased in session.execute(
        select(AuditEntry.seq, AuditEntry.commitment, AuditEntry.erased_at).where(AuditEntry.seq.in_(wanted)))
        if erased is None]
    if rows:  # one executemany by primary key, not a statement per entry
        session.execute(update(AuditEntry), [{"seq": seq, "detail": erasure_seal(seq, committed, at),
                                              "erased_at": at} for seq, committed in rows])
    return len(rows)


def erasure_seal(seq: int, committed: str | None, at: datetime) -> dict[str, str]:
    return {"erased": mac("erased", seq, committed, _utc(at).isoformat())}
