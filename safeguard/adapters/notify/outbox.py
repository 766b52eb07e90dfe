"""The outbox: every email is written here before it is sent, and sent at most once.

States: created -> sending -> sent, or failed (permanent) / back to created (temporary).
An entry found in "sending" after a crash is checked against the mailbox's Sent folder
before any retry, so a crash after the send does not send it again.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from safeguard.adapters.heartbeat import Heartbeat
from safeguard.adapters.mail.port import Mailbox, MailboxError
from safeguard.adapters.notify.compose import compose, message_id_for
from safeguard.adapters.notify.render import Rendered
from safeguard.adapters.register.orm import OutboxEntry
from safeguard.adapters.register.repository import Register
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config.models import FailoverSettings
from safeguard.domain.status import OutboxStatus
from safeguard.faults import checkpoint

log = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"^<[^<>\s\"]{1,900}>$")


@dataclass(frozen=True)
class Sender:
    address: str
    name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def queue_email(register: Register, *, key: str, kind: str, rendered: Rendered, sender: Sender,
                recipients: list[str], at: datetime, inbound_id: int | None = None,
                alert_id: int | None = None, in_reply_to: str | None = None,
                attachments: tuple[tuple[str, bytes], ...] = (), unused_key: bool = False) -> OutboxEntry:
    """Record an email to send. The same key twice returns the first entry: a retry never adds one.
    unused_key: the key is made from the id of a row added in this transaction (see outbox_entry)."""
    existing = register.outbox_entry(key, unused_key=unused_key)
    if existing is not None:
        return existing
    message_id = message_id_for(key, sender.domain)
    thread = in_reply_to if in_reply_to and _MESSAGE_ID.match(in_reply_to) else None
    raw = compose(rendered, sender=sender.address, sender_name=sender.name, recipients=recipients,
                  message_id=message_id, at=at, in_reply_to=thread, auto_reply=thread is not None,
                  attachments=attachments)
    entry = OutboxEntry(key=key, kind=kind, alert_id=alert_id, inbound_id=inbound_id, recipients=recipients,
                        message_id=message_id, raw=raw, status=OutboxStatus.CREATED, attempts=0,
                        created_at=at)
    register.add(entry)
    register.audit(actor="system", action="email queued", at=at, inbound_id=inbound_id,
                   alert_ref=register.alert_reference(alert_id), kind=kind, key=key)
    return entry


class SendResult(StrEnum):
    """What one call did with an entry (not a stored state: see OutboxStatus)."""

    SENT = "sent"  # sent now, sent earlier, or found in Sent after an interruption
    FAILED = "failed"  # refused for good (now or earlier)
    DEFERRED = "deferred"  # a temporary failure, or Sent could not be searched: it stays queued
    IN_PROGRESS = "in-progress"  # another live process holds it
    MISSING = "missing"  # no such entry
    CLAIMED = "claimed"  # claim_entries only: marked "sending" by this call, transmit is next


_RESULT_OF = {OutboxStatus.SENT: SendResult.SENT, OutboxStatus.FAILED: SendResult.FAILED,
              OutboxStatus.CREATED: SendResult.DEFERRED}


@dataclass(frozen=True)
class Claim:
    """An entry marked "sending" by this process, with what it takes to send it."""

    entry_id: int
    raw: bytes
    message_id: str
    recipients: list[str]
    claimed: float = field(default_factory=time.monotonic)  # when (monotonic), for held()


@dataclass
class Attempts:
    """What happened to claimed entries: an outcome for each one tried, and those left untried."""

    # status to store, error
    outcomes: dict[int, tuple[OutboxStatus, str | None]] = field(default_factory=dict)
    untried: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.outcomes or self.untried)


@dataclass(frozen=True)
class ClaimLease:
    """A claim ("sending" by host:pid) is renewed every heartbeat_seconds while its process lives;
    one not renewed for lease_seconds is taken over by another host (config: failover)."""

    heartbeat_seconds: float = FailoverSettings().heartbeat_seconds
    lease_seconds: float = FailoverSettings().lease_seconds

    @classmethod
    def of(cls, failover: FailoverSettings) -> ClaimLease:
        return cls(failover.heartbeat_seconds, failover.lease_seconds)


def send_entries(entry_ids: list[int], *, mailbox: Mailbox, uow: Callable[[], UnitOfWork],
                 now: Callable[[], datetime], lease: ClaimLease = ClaimLease()) -> dict[int, SendResult]:
    """Send these outbox entries, each unless it has been sent, and return what became of each: sent,
    failed (refused for good), deferred (a temporary failure: it stays queued), in-progress (another
    live process holds it) or missing.

    Three steps: claim them all in one transaction ("sending", one more attempt), send each, record
    every outcome in one more. Killed between the steps, the next run finds them "sending" with an
    attempt made and looks in Sent before sending again, as for one entry. A temporary failure stops
    the batch: the entries not yet tried go back to the queue untouched."""
    with uow() as u:
        claims, statuses = claim_entries(u, entry_ids, mailbox, now, lease)
        u.commit()
    attempts = transmit(claims, mailbox, held=claims_held(uow))
    if attempts:
        with uow() as u:
            statuses.update(record_attempts(u, attempts, now))
            u.commit()
    return statuses


def claim_entries(u: UnitOfWork, entry_ids: list[int], mailbox: Mailbox, now: Callable[[], datetime],
                  lease: ClaimLease = ClaimLease()) -> tuple[list[Claim], dict[int, SendResult]]:
    """Mark these entries "sending" by this process, in the caller's transaction, and return them
    with what became of each so far (see send_entries); the caller commits before sending. From
    here until the outcome is recorded, this process's heartbeat renews the claims."""
    statuses: dict[int, SendResult] = dict.fromkeys(entry_ids, SendResult.MISSING)
    claims: list[Claim] = []
    # A live holder's entries are left unlocked: a lock here would last until the caller commits,
    # searches of Sent for other entries included, and its heartbeat would wait that long to renew them.
    # Entries another transaction holds now are being claimed or renewed by it: not waited for.
    takeable = []
    for entry_id, (status, claimed_by, claimed_at) in u.register.outbox_claims(entry_ids).items():
        statuses[entry_id] = SendResult.IN_PROGRESS
        if not (status == OutboxStatus.SENDING and _still_sending(claimed_by, claimed_at, now(), lease)):
            takeable.append(entry_id)
    for entry in u.register.outbox_entries_for_update(takeable, skip_locked=True):
        statuses[entry.id] = SendResult.CLAIMED
        if entry.status in (OutboxStatus.SENT, OutboxStatus.FAILED):
            statuses[entry.id] = _RESULT_OF[OutboxStatus(entry.status)]
        elif entry.status == OutboxStatus.SENDING and _still_sending(entry.claimed_by, entry.claimed_at,
                                                                     now(), lease):
            statuses[entry.id] = SendResult.IN_PROGRESS  # another live process is sending it: never race it
        # Any earlier attempt may have reached the server even if it then failed or was killed
        # (a dropped connection leaves the outcome unknown), so look in Sent before sending again.
        elif entry.attempts and (found := _in_sent(mailbox, entry.message_id)) is not False:
            if found:
                _finish(u, entry, OutboxStatus.SENT, now(), note="found in Sent after an interruption",
                        alert_ref=u.register.alert_reference(entry.alert_id))
                statuses[entry.id] = SendResult.SENT
            else:  # Sent could not be searched: it waits for the next run
                statuses[entry.id] = SendResult.DEFERRED
        else:
            entry.status, entry.attempts = OutboxStatus.SENDING, entry.attempts + 1
            entry.claimed_by, entry.claimed_at = claimant(), now()
            claims.append(Claim(entry.id, entry.raw, entry.message_id, list(entry.recipients)))
    if claims:
        _renew_while_held(u.session.get_bind(), lease, now)
    return claims, statuses


def _in_sent(mailbox: Mailbox, message_id: str) -> bool | None:
    """Whether Sent holds the message; None when Sent cannot be searched now."""
    try:
        return mailbox.in_sent(message_id)
    except MailboxError:
        return None


def transmit(claims: list[Claim], mailbox: Mailbox,
             held: Callable[[Claim], bool] = lambda claim: True) -> Attempts:
    """Send each claimed entry. A temporary failure stops here: the rest are left untried; so does a
    claim neither made nor renewed lately (`held` False): another host may be taking it over."""
    attempts = Attempts()
    for position, claim in enumerate(claims):
        if not held(claim):
            attempts.untried = [c.entry_id for c in claims[position:]]
            break
        checkpoint("before_send")
        try:
            mailbox.send(claim.raw, message_id=claim.message_id, recipients=claim.recipients)
        except MailboxError as exc:
            attempts.outcomes[claim.entry_id] = (
                OutboxStatus.CREATED if exc.retryable else OutboxStatus.FAILED, str(exc))
            if exc.retryable:  # the server is unwell: leave the rest for the next run
                attempts.untried = [c.entry_id for c in claims[position + 1:]]
                break
            continue
        checkpoint("after_send")
        attempts.outcomes[claim.entry_id] = (OutboxStatus.SENT, None)
    return attempts


def record_attempts(u: UnitOfWork, attempts: Attempts, now: Callable[[], datetime]) -> dict[int, SendResult]:
    """Record what transmit did, in the caller's transaction: sent, failed, or back in the queue."""
    statuses: dict[int, SendResult] = {}
    entries = {e.id: e for e in u.register.outbox_entries_for_update([*attempts.outcomes, *attempts.untried])}
    references = u.register.alert_references({e.alert_id for e in entries.values()})
    for entry_id, (status, error) in attempts.outcomes.items():
        entry = entries[entry_id]
        _finish(u, entry, status, now(), error=error, alert_ref=references.get(entry.alert_id or 0))
        statuses[entry_id] = _RESULT_OF[status]
    for entry_id in attempts.untried:
        entry = entries[entry_id]
        if entry.status != OutboxStatus.SENDING or entry.claimed_by != claimant():
            statuses[entry_id] = SendResult.IN_PROGRESS  # taken over by another host meanwhile
            continue
        entry.status, entry.attempts, entry.claimed_by, entry.claimed_at = (
            OutboxStatus.CREATED, entry.attempts - 1, None, None)
        statuses[entry_id] = SendResult.DEFERRED
    return statuses


def claimant() -> str:
    """This process as host:pid, asked at each claim: never at import, because intake helpers are
    forked from a forkserver that imported this module, and would all carry its pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _still_sending(claimed_by: str | None, claimed_at: datetime | None, at: datetime,
                   lease: ClaimLease) -> bool:
    """Whether the process that marked an entry "sending" may still be sending it. On this host we
    can ask whether that process is alive; for another host, whether it renewed the claim within the
    lease (its heartbeat renews it every few seconds while it lives)."""
    lasts = timedelta(seconds=lease.lease_seconds)
    host, _, pid = (claimed_by or "").rpartition(":")
    if not host or claimed_at is None:
        return False  # marked before claims were recorded: treat as interrupted
    if claimed_by == claimant():
        return False  # this process: an earlier attempt of ours was interrupted
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # alive (or its pid reused): a SQLite register has no heartbeat, so a live claim here is
        # only presumed stale after SAME_HOST_LEASE, as before hosts shared a register
        return at - claimed_at < max(lasts, SAME_HOST_LEASE)
    return at - claimed_at < lasts


SAME_HOST_LEASE = timedelta(minutes=10)


def _lock_timeout_ms(lease: ClaimLease) -> int:
    """How long a renewal waits for a row another transaction holds: a quarter of a heartbeat, at
    most a second, so that a beat that fails leaves the next one its time."""
    return max(50, min(1000, int(lease.heartbeat_seconds * 250)))


class _Renewer:
    """Renews every claim this process holds in one database, every heartbeat, until it has held
    none for a whole lease (a claim made meanwhile is committed well within that)."""

    def __init__(self, engine: Engine, lease: ClaimLease, now: Callable[[], datetime]) -> None:
        self.engine, self.lease, self.now = engine, lease, now
        self.registered = self.renewed = time.monotonic()
        self.holding, self.failing = True, False
        self.heartbeat = Heartbeat(self._beat, lease.heartbeat_seconds, "outbox-claims")

    def held(self, since: float = 0.0) -> bool:
        """Made (at monotonic `since`) or renewed lately enough that no other host can have taken
        the claim over."""
        since_renewed = time.monotonic() - max(self.renewed, since)
        return since_renewed < self.lease.lease_seconds - self.lease.heartbeat_seconds

    def _beat(self) -> bool:
        """Renew every claim of this process's, or fail and try again at the next beat.

        Rows no other transaction holds are renewed at once. A row another transaction holds is
        waited for, up to a fraction of a heartbeat: it is this process recording an outcome or
        another host claiming (claim_entries never locks a live claim, so that lock is a moment).
        Skipping such rows, as this once did, renewed nothing beat after beat whenever another
        sender looked at the claims in step, and a live claim was taken over after one lease."""
        try:
            held, busy = self._renew(wait=False)
            if busy:
                self._renew(busy, wait=True)
        except SQLAlchemyError as exc:  # the register unreachable, or a row held past the timeout
            if not self.failing:
                log.warning("outbox claims could not be renewed (%s); trying again every heartbeat",
                            getattr(exc.orig, "sqlstate", None) or type(exc).__name__)
            self.failing = True
            return self._carry_on(self.holding)  # whether it holds any is unknown: as last known
        if self.failing:
            log.warning("outbox claims renewed again")
        self.failing, self.renewed, self.holding = False, time.monotonic(), bool(held)
        return self._carry_on(self.holding)

    def _renew(self, only: list[int] | None = None, *, wait: bool) -> tuple[list[int], list[int]]:
        """Renew this process's claims (of `only`, if given) in one transaction, in id order (the
        order every claim locks them in); return them, and those left because another transaction
        holds them and `wait` is False."""
        with Session(self.engine) as session:
            if wait:
                session.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                                {"ms": str(_lock_timeout_ms(self.lease))})
            mine = select(OutboxEntry.id).where(OutboxEntry.status == OutboxStatus.SENDING,
                                                OutboxEntry.claimed_by == claimant())
            if only is not None:
                mine = mine.where(OutboxEntry.id.in_(only))
            held = list(session.scalars(mine.order_by(OutboxEntry.id)))
            locked = list(session.scalars(select(OutboxEntry.id).where(OutboxEntry.id.in_(held))
                                          .order_by(OutboxEntry.id).with_for_update(skip_locked=not wait)))
            if locked:
                session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(locked)).values(claimed_at=self.now()))
            session.commit()
        return held, sorted(set(held) - set(locked))

    def _carry_on(self, holding: bool) -> bool:
        with _renewers_lock:
            if holding or time.monotonic() - self.registered < self.lease.lease_seconds:
                return True
            _renewers.pop((os.getpid(), id(self.engine)), None)
            return False


_renewers: dict[tuple[int, int], _Renewer] = {}
_renewers_lock = threading.Lock()


def _renew_while_held(engine: Engine, lease: ClaimLease, now: Callable[[], datetime]) -> None:
    """Start (or keep) this process's heartbeat for its claims. Not for SQLite: its register is on
    one host, where a claim's holder is asked directly whether it lives."""
    if engine.dialect.name == "sqlite":
        return
    key = (os.getpid(), id(engine))  # a forked process has its own claims, and no thread of its parent's
    with _renewers_lock:
        renewer = _renewers.get(key)
        if renewer is None or not renewer.heartbeat.alive:
            renewer = _renewers[key] = _Renewer(engine, lease, now)
            renewer.heartbeat.start()
        renewer.registered, renewer.now = time.monotonic(), now


def claims_held(uow: Callable[[], UnitOfWork]) -> Callable[[Claim], bool]:
    """Whether a claim of this process's in this register is still surely its own: made, or renewed
    by the heartbeat, lately enough (see _Renewer.held)."""
    with uow() as u:
        key = (os.getpid(), id(u.session.get_bind()))

    def held(claim: Claim) -> bool:
        with _renewers_lock:
            renewer = _renewers.get(key)
        return renewer is None or renewer.held(claim.claimed)
    return held


def _finish(u: UnitOfWork, entry: OutboxEntry, status: OutboxStatus, at: datetime, *,
            error: str | None = None, note: str | None = None, alert_ref: str | None) -> None:
    entry.status = status
    entry.last_error = error[:500] if error else None
    if status == OutboxStatus.SENT:
        entry.sent_at = at
    action = {OutboxStatus.SENT: "email sent", OutboxStatus.FAILED: "email failed",
              OutboxStatus.CREATED: "email send deferred"}[status]
    details = {"key": entry.key, "kind": entry.kind, **({"error": error} if error else {}),
               **({"note": note} if note else {})}
    u.register.audit(actor="system", action=action, at=at, inbound_id=entry.inbound_id,
                     alert_ref=alert_ref, **details)
