"""Checking the audit chain (audit.py says how it is built).

- `verify_full` walks every entry from the first, and checks every stored checkpoint against it.
- `verify_incremental` starts from the latest checkpoint (its MAC checked with the audit key, and
  its entry still holding the hash it recorded) and walks only the entries after it: the nightly
  run and `safeguard audit verify` use it; `--full` walks everything.
- A clean run through to the head stores a new checkpoint (`checkpoint`).
- `prove_entries` checks a handful of entries (one alert's history) without walking the chain:
  each entry's own hash, its link to the entry before it, and the latest checkpoint. Its cost
  follows the entries it is given, not the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeguard.adapters.register.audit import (
    GENESIS,
    commitment,
    erasure_seal,
    head_mac,
    mac,
    v1_digest,
    v2_digest,
)
from safeguard.adapters.register.orm import AuditCheckpoint, AuditEntry, AuditHead

CHANGED = "the entry was changed after it was written"


@dataclass(frozen=True)
class ChainReport:
    entries: int  # entries walked
    broken_at: int | None
    reason: str = ""
    # entries whose detail was erased: the first SHOWN_ERASED of them, and how many in all (a listing of
    # every one grew with the years: 923,306 entries, 100 MB, on a ten-year register)
    erased: list[int] = field(default_factory=list)
    from_seq: int = 1  # the first entry walked (after the checkpoint used, if any)
    head: int = 0
    erased_count: int = 0

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def entry_fault(entry: AuditEntry, prev: str, v2_from: int | None) -> str | None:
    """Why this entry, following `prev`, is not what was written (None when it is)."""
    if entry.prev_hash != prev:
        return "the link to the previous entry does not match"
    if v2_from is None or entry.seq < v2_from:
        expected = v1_digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.alert_ref,
                             entry.inbound_id, entry.detail)
        return None if expected == entry.hash else CHANGED
    if entry.commitment is None:
        return CHANGED
    if entry.erased_at is not None:
        if entry.detail != erasure_seal(entry.seq, entry.commitment, entry.erased_at):
            return "the entry's detail was removed without the audit key"
    elif commitment(entry.detail) != entry.commitment:
        return "the entry's detail was changed after it was written"
    expected = v2_digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.alert_ref,
                         entry.inbound_id, entry.commitment)
    return None if expected == entry.hash else CHANGED


def _walk(entries: Iterator[AuditEntry], prev: str, first: int, v2_from: int | None,
          checkpoints: dict[int, str]) -> tuple[int, str, int | None, str]:
    """(entries walked, last hash, seq where broken, why)."""
    count = 0
    for count, entry in enumerate(entries, start=1):
        expected_seq = first + count - 1
        if entry.seq != expected_seq:
            return count, prev, expected_seq, "an entry is missing before this one"
        fault = entry_fault(entry, prev, v2_from)
        if fault:
            return count, prev, entry.seq, fault
        if entry.seq in checkpoints and checkpoints[entry.seq] != entry.hash:
            return count, prev, entry.seq, "a checkpoint no longer matches this entry"
        prev = entry.hash
    return count, prev, None, ""


def _head_fault(head: AuditHead, last_seq: int, last_hash: str) -> str | None:
    if head.seq != last_seq or head.hash != last_hash:
        return "entries at the end of the log were removed"
    if head.v2_from is not None and head.seq >= head.v2_from and head.mac != head_mac(head):
        return "the chain's head was changed without the audit key"
    return None


def _stream(session: Session, after: int, upto: int) -> Iterator[AuditEntry]:
    yield from session.scalars(select(AuditEntry).where(AuditEntry.seq > after, AuditEntry.seq <= upto)
                               .order_by(AuditEntry.seq).execution_options(yield_per=1000))


def _verify_from(session: Session, head: AuditHead, after: int, prev: str,
                 checkpoints: dict[int, str]) -> ChainReport:
    walked, last, broken, why = _walk(_stream(session, after, head.seq), prev, after + 1, head.v2_from,
                                      checkpoints)
    if broken is None and (fault := _head_fault(head, after + walked, last)):
        broken, why = after + walked + 1, fault
    return ChainReport(walked, broken, why, erased_entries(session), after + 1, head.seq,
                       int(session.scalar(select(func.count()).select_from(AuditEntry)
                                          .where(AuditEntry.erased_at.is_not(None))) or 0))


def verify_full(session: Session) -> ChainReport:
    head = session.get(AuditHead, 1)
    if head is None:
        return ChainReport(0, None)
    marks = {c.seq: c for c in session.scalars(select(AuditCheckpoint))}
    forged = next((s for s, c in marks.items() if c.mac != checkpoint_mac(c.seq, c.hash)), None)
    if forged is not None:
        return ChainReport(0, forged, "a checkpoint was written without the audit key")
    return _verify_from(session, head, 0, GENESIS, {s: c.hash for s, c in marks.items()})


def verify_incremental(session: Session) -> ChainReport:
    head = session.get(AuditHead, 1)
    if head is None:
        return ChainReport(0, None)
    mark = latest_checkpoint(session)
    if mark is None:
        return verify_full(session)
    if (fault := checkpoint_fault(session, mark)) is not None:
        return ChainReport(0, mark.seq, fault, head=head.seq)
    return _verify_from(session, head, mark.seq, mark.hash, {})


def verify_v1(session: Session, head: AuditHead) -> ChainReport:
    """The whole chain as v1 (before it continues as v2), for the upgrade's marked entry."""
    walked, last, broken, why = _walk(_stream(session, 0, head.seq), GENESIS, 1, None, {})
    if broken is None and (head.seq != walked or head.hash != last):
        broken, why = walked + 1, "entries at the end of the log were removed"
    return ChainReport(walked, broken, why)


SHOWN_ERASED = 20


def erased_entries(session: Session) -> list[int]:
    """The first SHOWN_ERASED entries whose detail was erased (ChainReport.erased_count counts them all)."""
    return list(session.scalars(select(AuditEntry.seq).where(AuditEntry.erased_at.is_not(None))
                                .order_by(AuditEntry.seq).limit(SHOWN_ERASED)))


# checkpoints ------------------------------------------------------------------------------------
def checkpoint_mac(seq: int, digest: str) -> str:
    return mac("checkpoint", seq, digest)


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()


def checkpoint_fault(session: Session, mark: AuditCheckpoint) -> str | None:
    if mark.mac != checkpoint_mac(mark.seq, mark.hash):
        return "the latest checkpoint was written without the audit key"
    stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == mark.seq))
    return None if stored == mark.hash else "an entry before the latest checkpoint was changed or removed"


def checkpoint(session: Session, report: ChainReport, at: datetime) -> AuditCheckpoint | None:
    """Record that the chain verified through its head (the caller commits)."""
    head = session.get(AuditHead, 1)
    if not report.ok or head is None or head.seq == 0 or head.seq != report.head:
        return None
    if session.get(AuditCheckpoint, head.seq) is not None:
        return None
    mark = AuditCheckpoint(seq=head.seq, hash=head.hash, made_at=at, mac=checkpoint_mac(head.seq, head.hash))
    session.add(mark)
    return mark


# one alert's entries ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EntriesProof:
    checked: int
    faults: dict[int, str]  # seq -> why
    checkpoint: AuditCheckpoint | None
    checkpoint_fault: str | None

    @property
    def ok(self) -> bool:
        return not self.faults and self.checkpoint_fault is None


def prove_entries(session: Session, entries: list[AuditEntry]) -> EntriesProof:
    head = session.get(AuditHead, 1)
    v2_from = head.v2_from if head is not None else None
    wanted = {e.seq - 1 for e in entries if e.seq > 1}
    rows = session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(wanted))) \
        if wanted else []
    before = {seq: digest for seq, digest in rows}
    faults = {}
    for entry in entries:
        prev = GENESIS if entry.seq == 1 else before.get(entry.seq - 1, "")
        if (fault := entry_fault(entry, prev, v2_from)) is not None:
            faults[entry.seq] = fault if prev else "the entry before this one is missing"
    mark = latest_checkpoint(session)
    return EntriesProof(len(entries), faults, mark, checkpoint_fault(session, mark) if mark else None)
