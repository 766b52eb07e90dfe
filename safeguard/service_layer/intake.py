"""Intake of one message: fetch, deduplicate, parse, decide, commit, reply, then move.

The order is the guarantee: a message leaves INBOX only after its outcome is committed, and
its replies are in the outbox before they are sent. Killed at any point, the next run finds
the message again, sees it in the register, sends what is unsent, and files it: once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

from safeguard.adapters.mail.inbound import Inbound, parse_inbound
from safeguard.adapters.mail.port import Folder, Mailbox, MailboxError
from safeguard.adapters.notify.outbox import (
    Attempts,
    Claim,
    ClaimLease,
    SendResult,
    claim_entries,
    claims_held,
    record_attempts,
    transmit,
)
from safeguard.adapters.register.orm import InboundMessage, IntakeDeferral
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.carriers import overran
from safeguard.domain.config import Config
from safeguard.domain.status import AlertStatus, DeliveryStatus, Outcome
from safeguard.domain.triage import AlertFacts, Decision, triage
from safeguard.faults import checkpoint
from safeguard.service_layer import deferrals
from safeguard.service_layer.attachments import read_message
from safeguard.service_layer.deferrals import Deferred
from safeguard.service_layer.digests import digest_provider
from safeguard.service_layer.lifecycle import find_sent
from safeguard.service_layer.recording import record_decision
from safeguard.service_layer.sending import tell_admin_about_refusals

log = logging.getLogger(__name__)
K = TypeVar("K")


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one message: ids and codes only, safe for logs and Prefect."""

    mailbox_id: str
    inbound_id: int | None
    outcome: Outcome
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
    """The messages in chunks of CHUNK. A message that cannot be finished now (register or mailbox
    down, or a fault in it alone) is reported as deferred and stays in INBOX for the next run; the
    rest of the batch goes on."""
    chunks = ((start, mailbox_ids[start:start + CHUNK]) for start in range(0, len(mailbox_ids), CHUNK))
    return [result for _start, results in process_chunks(chunks, ctx) for result in results]


def process_chunks(chunks: Iterable[tuple[K, list[str]]],
                   ctx: IntakeContext) -> Iterator[tuple[K, list[IntakeResult]]]:
    """Each chunk's results, with the key it came with. What a chunk's replies did and which of its
    messages were filed is written by the next chunk's transaction (one transaction a chunk, so
    that processes sharing a backlog wait less for the register), and the last chunk's at the end."""
    done = Done()
    try:
        for key, mailbox_ids in chunks:
            results, done = _process_chunk(mailbox_ids, ctx, done)
            yield key, results
    finally:
        _write_done(done, ctx)


CHUNK = 50  # messages fetched, recorded (one transaction), answered and filed together


def process_message(mailbox_id: str, ctx: IntakeContext) -> IntakeResult:
    return process_batch([mailbox_id], ctx)[0]


def _process_chunk(mailbox_ids: list[str], ctx: IntakeContext,
                   earlier: Done) -> tuple[list[IntakeResult], Done]:
    """The chunk in groups of at most limits.chunk_mb of message bytes (where the mailbox can tell
    sizes), each group through _process_group in turn, so that a chunk of large messages never
    holds more than that at once."""
    limits = ctx.config.settings.limits
    try:
        sizes = ctx.mailbox.sizes(mailbox_ids)
    except Exception:  # noqa: BLE001 - sizes only shape the groups; fetching reports any fault
        sizes = {}
    too_big = {m for m, size in sizes.items() if size > limits.max_message_mb * MB}
    results: list[IntakeResult] = []
    for group in byte_groups(mailbox_ids, {m: HEAD_BYTES if m in too_big else n for m, n in sizes.items()},
                             int(limits.chunk_mb * MB)):
        group_results, earlier = _process_group(group, too_big, ctx, earlier)
        results += group_results
    return results, earlier


MB = 1024 * 1024
HEAD_BYTES = 256 * 1024  # what is read of a message over limits.max_message_mb: its headers


def byte_groups(mailbox_ids: list[str], sizes: dict[str, int], budget: int) -> list[list[str]]:
    """Consecutive groups whose known sizes add up to at most `budget` (a larger message alone)."""
    groups: list[list[str]] = []
    used = budget + 1
    for mailbox_id in mailbox_ids:
        size = sizes.get(mailbox_id, 0)
        if used + size > budget or not groups:
            groups.append([])
            used = 0
        groups[-1].append(mailbox_id)
        used += size
    return groups


def _fetch(mailbox_ids: list[str], too_big: set[str], ctx: IntakeContext,
           results: dict[str, IntakeResult]) -> dict[str, bytes | None]:
    """The group's messages (only the head of one over the size limit); a fault goes in results."""
    whole = [m for m in mailbox_ids if m not in too_big]
    try:
        raws = ctx.mailbox.fetch_many(whole) if whole else {}
    except Exception:  # noqa: BLE001 - one at a time, so that one message the server chokes on waits alone
        raws = {}
        for mailbox_id in whole:
            try:
                raws[mailbox_id] = ctx.mailbox.fetch(mailbox_id)
            except Exception as exc:  # noqa: BLE001
                results[mailbox_id] = _deferred(mailbox_id, exc)
    for mailbox_id in mailbox_ids:
        if mailbox_id in too_big:
            try:
                raws[mailbox_id] = ctx.mailbox.fetch_head(mailbox_id, HEAD_BYTES)
            except Exception as exc:  # noqa: BLE001
                results[mailbox_id] = _deferred(mailbox_id, exc)
    return raws


def _process_group(mailbox_ids: list[str], too_big: set[str], ctx: IntakeContext,
                   earlier: Done) -> tuple[list[IntakeResult], Done]:
    """Fetch, read, record (one transaction, a savepoint per message), reply, file, in that order
    for the whole group: a message leaves INBOX only after its outcome and replies are committed
    and its replies have been sent (or queued for a retry)."""
    results: dict[str, IntakeResult] = {}
    raws = _fetch(mailbox_ids, too_big, ctx, results)
    checkpoint("after_fetch")
    results.update(_own_copies(raws, ctx))
    inbounds = _given_up_unfetched(results, ctx)
    for mailbox_id in mailbox_ids:
        raw = raws.pop(mailbox_id, None)
        if mailbox_id in results or mailbox_id in inbounds:
            continue
        if raw is None:
            results[mailbox_id] = IntakeResult(mailbox_id, None, Outcome.GONE, "no longer in INBOX")
            continue
        inbounds[mailbox_id] = _read(raw, ctx.config, whole=mailbox_id not in too_big)
        del raw
    checkpoint("after_parse")
    claims: list[Claim] = []
    failed: list[int] = []
    register_up = True
    try:
        recorded_results, claims, failed = _record(inbounds, ctx, earlier)
        results.update(recorded_results)
        earlier = Done()
    except Exception as exc:  # noqa: BLE001 - the register is down: all of them wait for the next run
        results.update({mailbox_id: _deferred(mailbox_id, exc) for mailbox_id in inbounds})
        register_up = False
    checkpoint("after_commit")  # the outcomes, replies (claimed for sending) and audit of the chunk
    if register_up:
        deferrals.count(ctx.uow, [Deferred(r.mailbox_id, r.reason, inbounds[r.mailbox_id].content_sha256
                                           if r.mailbox_id in inbounds else None)
                                  for r in results.values() if r.outcome == Outcome.DEFERRED], ctx.clock())
    inbounds.clear()
    attempts = transmit(claims, ctx.mailbox, held=claims_held(ctx.uow))
    checkpoint("before_move")  # replies sent, or queued again after a temporary failure
    if own := [r.mailbox_id for r in results.values() if r.outcome == Outcome.OWN_COPY]:
        try:
            ctx.mailbox.file_sent_copies(own)
        except Exception as exc:  # noqa: BLE001 - they wait in INBOX for the next run
            results.update({mailbox_id: _deferred(mailbox_id, exc) for mailbox_id in own})
    recorded = [r for r in results.values() if r.inbound_id is not None and r.folder]
    filed: list[int] = []
    for folder in dict.fromkeys(r.folder for r in recorded):
        group = [r for r in recorded if r.folder == folder]
        try:
            ctx.mailbox.move_many([r.mailbox_id for r in group], Folder(folder))
        except Exception as exc:  # noqa: BLE001 - recorded and answered: the next run files them
            results.update({r.mailbox_id: _deferred(r.mailbox_id, exc) for r in group})
            continue
        filed += [r.inbound_id for r in group if r.inbound_id is not None]
    checkpoint("after_move")
    tell_admin_about_refusals(failed, ctx)
    return [results[mailbox_id] for mailbox_id in mailbox_ids], earlier.then(Done(attempts, filed))


def header_block(raw: bytes) -> bytes:
    """A message's header section: up to its first empty line, in whichever line ending the store
    keeps (IMAP and Exchange: CRLF; a Maildir file: LF), and at most HEAD_BYTES. Parsing only this
    keeps a large attachment from being read to find three headers."""
    ends = [end for end in (raw.find(b"\r\n\r\n", 0, HEAD_BYTES), raw.find(b"\n\n", 0, HEAD_BYTES))
            if end >= 0]
    return raw[:min(ends)] if ends else raw[:HEAD_BYTES]


def _own_copies(raws: dict[str, bytes | None], ctx: IntakeContext) -> dict[str, IntakeResult]:
    """The mailbox's own copies of emails it sent (the IMAP adapter makes the mailbox a recipient
    of what it sends, so that an email whose copy in Sent was never made can still be seen to have
    gone): from the mailbox's address, with the Message-ID of an email we tried to send. They go
    to Sent and are recorded nowhere else; if the register cannot be asked, they wait in INBOX."""
    ours = {ctx.mailbox.address.lower(), ctx.config.settings.service.mailbox_address.lower()}
    candidates: dict[str, str] = {}
    for mailbox_id, raw in raws.items():
        if raw is None:
            continue
        headers = BytesHeaderParser().parsebytes(header_block(raw))
        message_id = " ".join(str(headers.get("Message-ID") or "").split())
        if (message_id and parseaddr(str(headers.get("From") or ""))[1].lower() in ours
                and not any(name.lower().startswith("resent-") for name in headers)):  # not sent back on
            candidates[mailbox_id] = message_id
    if not candidates:
        return {}
    try:
        with ctx.uow() as u:
            attempted = u.register.attempted_message_ids(set(candidates.values()))
    except Exception as exc:  # noqa: BLE001 - a copy must not be taken for a message from someone
        return {mailbox_id: _deferred(mailbox_id, exc) for mailbox_id in candidates}
    return {mailbox_id: IntakeResult(mailbox_id, None, Outcome.OWN_COPY, "a copy of an email we sent",
                                     folder=str(Folder.SENT))
            for mailbox_id, message_id in candidates.items() if message_id in attempted}


def _given_up_unfetched(results: dict[str, IntakeResult], ctx: IntakeContext) -> dict[str, Inbound]:
    """Messages that could not be fetched now and were deferred too often already: stand-ins that
    quarantine them (their results leave `results`)."""
    unfetched = [r.mailbox_id for r in results.values() if r.outcome == Outcome.DEFERRED]
    if not unfetched:
        return {}
    limit = ctx.config.settings.limits.max_deferrals
    given_up = {m: n for m, n in deferrals.counts(ctx.uow, unfetched).items() if n >= limit}
    for mailbox_id in given_up:
        del results[mailbox_id]
    return {mailbox_id: deferrals.unfetchable(mailbox_id, n) for mailbox_id, n in given_up.items()}


def _deferred(mailbox_id: str, exc: BaseException) -> IntakeResult:
    reason = deferral_reason(exc)
    log.warning("message %s deferred: %s", mailbox_id, reason)
    return IntakeResult(mailbox_id, None, Outcome.DEFERRED, reason)


def deferral_reason(exc: BaseException) -> str:
    """Why a message was left for the next run, in plain words and without any message content
    (this reaches logs and Prefect)."""
    if isinstance(exc, MailboxError):
        return str(exc)  # the adapters' own words, which never quote a message
    if isinstance(exc, DBAPIError | OSError):
        return "the register (database) could not be reached"
    return f"an unexpected {type(exc).__name__}"


@dataclass
class Done:
    """What chunks did after their transaction: their replies' outcomes and the messages filed."""

    attempts: Attempts = field(default_factory=Attempts)
    filed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attempts or self.filed)

    def then(self, later: Done) -> Done:
        return Done(Attempts({**self.attempts.outcomes, **later.attempts.outcomes},
                             self.attempts.untried + later.attempts.untried), self.filed + later.filed)


def _record_done(u: UnitOfWork, done: Done, ctx: IntakeContext) -> list[int]:
    """Write what the replies did and which messages were filed; returns replies refused for good.
    Until it is written, the replies show "sending" by this process (the next run looks in Sent
    before any resend) and the nightly reconciliation lists the messages as filed but not marked."""
    statuses = record_attempts(u, done.attempts, ctx.clock) if done.attempts else {}
    if done.filed:
        u.register.mark_filed(done.filed, ctx.clock())
    return [entry_id for entry_id, status in statuses.items() if status == SendResult.FAILED]


def _write_done(done: Done, ctx: IntakeContext) -> None:
    if not done:
        return
    try:
        with ctx.uow() as u:
            failed = _record_done(u, done, ctx)
            u.commit()
    except DBAPIError:  # sent and filed all the same; see _record_done
        log.warning("could not record %d reply(s) and %d filed message(s) in the register",
                    len(done.attempts.outcomes), len(done.filed))
        return
    tell_admin_about_refusals(failed, ctx)


def _record(inbounds: dict[str, Inbound], ctx: IntakeContext,
            earlier: Done) -> tuple[dict[str, IntakeResult], list[Claim], list[int]]:
    """Record each message's outcome, replies and audit, all in one transaction for the chunk. The
    same transaction claims the messages' unsent replies for sending, and writes what the earlier
    chunk did (see _record_done), so that a chunk waits its turn for the register once. Returns the
    results, the claims and the earlier replies refused for good.

    The chunk is written in one go (one flush); if that fails, because another process recorded
    one of the messages first or a fault in one message, it is recorded again one message at a
    time, each inside its own savepoint, so that the fault stays with its message."""
    if not inbounds and not earlier:
        return {}, [], []
    try:
        results, claims, failed, _retry = _record_pass(inbounds, ctx, earlier, one_by_one=False)
        return results, claims, failed
    except IntegrityError:
        log.info("a message of the chunk was recorded by another run at the same time; recording one by one")
    except DBAPIError:
        raise
    except Exception as exc:  # noqa: BLE001 - one message's fault: one by one finds which
        log.warning("recording a chunk failed (%s); recording its messages one by one", type(exc).__name__)
    results, claims, failed, pending = {}, [], [], inbounds
    for _attempt in (1, 2):
        recorded, claimed, refused, pending = _record_pass(pending, ctx, earlier, one_by_one=True)
        results, claims, failed, earlier = {**results, **recorded}, claims + claimed, failed + refused, Done()
        if not pending:
            return results, claims, failed
    for mailbox_id in pending:
        results[mailbox_id] = IntakeResult(mailbox_id, None, Outcome.DEFERRED,
                                           "recorded at the same time by another run")
    return results, claims, failed


def _record_pass(pending: dict[str, Inbound], ctx: IntakeContext, earlier: Done, *, one_by_one: bool,
                 ) -> tuple[dict[str, IntakeResult], list[Claim], list[int], dict[str, Inbound]]:
    """One transaction over the messages; with one_by_one, each in a savepoint. Returns the results,
    the claims, the earlier replies refused for good, and the messages another run recorded first
    (to look at again)."""
    results: dict[str, IntakeResult] = {}
    retry: dict[str, Inbound] = {}
    with ctx.uow() as u:
        u.register.lock_audit()  # before any savepoint, so a rolled-back one cannot release it
        failed = _record_done(u, earlier, ctx)
        known = u.register.messages_by_keys([inbound.dedup_key for inbound in pending.values()])
        counted = deferrals.rows_for(u.session, pending)
        for mailbox_id, inbound in pending.items():
            if mailbox_id in counted:
                inbound.deferred_before = max(inbound.deferred_before, counted[mailbox_id].count)
            if not one_by_one:
                results[mailbox_id] = _record_one(u, inbound, mailbox_id, known, ctx, counted)
                continue
            savepoint = u.session.begin_nested()
            try:
                result = _record_one(u, inbound, mailbox_id, known, ctx, counted)
                savepoint.commit()
            except IntegrityError:  # another worker recorded the same message first: look again
                savepoint.rollback()
                retry[mailbox_id] = inbound
            except DBAPIError:
                raise
            except Exception as exc:  # noqa: BLE001 - a fault in this message alone: it waits
                savepoint.rollback()
                results[mailbox_id] = _deferred(mailbox_id, exc)
            else:
                results[mailbox_id] = result
                continue
            known = {key: row for key, row in known.items() if row in u.session}  # not the rolled-back one
        answered = [results[m].inbound_id for m in pending if m in results and results[m].folder]
        unsent = u.register.unsent_ids_for_messages([i for i in answered if i is not None])
        claimed, _statuses = claim_entries(u, unsent, ctx.mailbox, ctx.clock,
                                           ClaimLease.of(ctx.config.settings.failover))
        u.commit()
    return results, claimed, failed, retry


def _record_one(u: UnitOfWork, inbound: Inbound, mailbox_id: str, known: dict[str, InboundMessage],
                ctx: IntakeContext, counted: dict[str, IntakeDeferral]) -> IntakeResult:
    """Decide about one message and record it (or, if a copy is known, record the copy). Adds the
    new message to `known`, so that a second copy in the same chunk is seen as one, and removes
    its deferral count (`counted`), if any: it is recorded now."""
    if mailbox_id in counted:
        u.session.delete(counted[mailbox_id])
    existing = known.get(inbound.dedup_key)
    if existing is not None:
        return _seen_before(u, existing, mailbox_id, ctx.clock())
    now = ctx.clock()
    decision = _decide(inbound, ctx, now, u)
    row, alert = record_decision(u.register, ctx.config, inbound, decision, mailbox_id, now)
    known[inbound.dedup_key] = row
    return IntakeResult(mailbox_id, row.id, decision.outcome, decision.reason,
                        alert.reference if alert else decision.alert_ref, row.folder)


def _read(raw: bytes, config: Config, *, whole: bool = True) -> Inbound:
    """The message as triage sees it (its attachment read ahead); `whole` False: raw is only the head
    of a message over the size limit. Never raises (parse_inbound does not): a fault in a message is
    its own."""
    if whole and len(raw) <= config.settings.limits.max_message_mb * MB:
        return read_message(raw, config)
    try:
        headers = BytesHeaderParser().parsebytes(header_block(raw))
        head = b"".join(f"{k}: {v}\r\n".encode(errors="replace") for k, v in headers.items()) + b"\r\n"
    except Exception:  # noqa: BLE001 - headers that cannot even be listed: the fault says enough
        head = b"\r\n"
    inbound = parse_inbound(head)
    inbound.header_faults.append("the message is larger than the size limit")
    return inbound


def _decide(inbound: Inbound, ctx: IntakeContext, now: datetime, u: UnitOfWork) -> Decision:
    today = ctx.config.local_date(now)
    limits = ctx.config.settings.limits
    if inbound.deferred_before >= limits.max_deferrals:
        return Decision("unknown", "quarantined", deferrals.REASON,
                        f"The message could not be processed in {inbound.deferred_before} attempts, so it "
                        "was set aside; a person needs to look at it.", tell_admin=True)
    if overran(inbound):
        return Decision("unknown", "quarantined", "attachment-unreadable",
                        "Its attachment could not be read within the time and memory allowed for one "
                        "attachment (it may be built to overload a reader). Do not open it on a shared "
                        "computer; ask the sender to send the form again as a plain .xlsx or .docx.",
                        tell_admin=True)

    def find_alert(reference: str) -> AlertFacts | None:
        alert = u.register.alert(reference)
        if alert is None:
            return None
        deliveries = u.register.deliveries(alert)
        return AlertFacts(alert.reference, AlertStatus(alert.status),
                          frozenset({alert.social_worker_email, alert.team_manager_email,
                                     alert.submitted_by}),
                          notified=frozenset(d.mailbox for d in deliveries),
                          alert_type=alert.alert_type, created_on=ctx.config.local_date(alert.created_at),
                          holding=frozenset(d.mailbox for d in deliveries
                                            if alert.status == AlertStatus.ACTIVE
                                            and d.status == DeliveryStatus.NOTIFIED))

    try:
        return triage(inbound, ctx.config, today, find_alert, find_sent(u),
                      lambda reference: digest_provider(u.register, reference))
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
        return IntakeResult(mailbox_id, row.id, Outcome.DUPLICATE, "already recorded", None, row.folder)
    return IntakeResult(mailbox_id, row.id, Outcome(row.outcome), row.reason, None, row.folder)
