"""Failover between hosts sharing one PostgreSQL register (outbox.py's claim lease): a claim held by
a live sender on another host is never taken, however long it holds it, because its heartbeat renews
it; a claim whose holder was killed is taken over within the lease and one heartbeat, and what the
dead holder had already sent is found in Sent rather than sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.mail.port import MailboxError
from safeguard.adapters.notify.outbox import ClaimLease, Sender, queue_email, send_entries
from safeguard.adapters.notify.render import Rendered
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.orm import OutboxEntry
from safeguard.adapters.register.uow import UnitOfWork, uow_factory
from tests.conftest import NOW, ROOT, postgres_database

pytestmark = pytest.mark.postgres

LEASE = ClaimLease(heartbeat_seconds=0.5, lease_seconds=2)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_database()


@pytest.fixture
def pg_uow(pg_url: str) -> Iterator[Callable[[], UnitOfWork]]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield uow_factory(engine)
    engine.dispose()


def _queue(uow: Callable[[], UnitOfWork], n: int) -> list[int]:
    with uow() as u:
        entries = [queue_email(u.register, key=f"failover:{i}", kind="notice:test",
                               rendered=Rendered(f"Notice {i}", "text\n", "<p>text</p>"),
                               sender=Sender("safeguarding@example-icb.test", "Safeguarding"),
                               recipients=["safeguarding@uhcw.test"], at=NOW) for i in range(n)]
        u.commit()
        return [e.id for e in entries]


def _hold(url: str, mail: Path, ids: list[int], *, send: bool = False) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-m", "testkit.claim_holder", url, str(mail), *map(str, ids), "--host", "host-b",
         "--heartbeat", str(LEASE.heartbeat_seconds), "--lease", str(LEASE.lease_seconds),
         *(["--send"] if send else [])],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout is not None and holder.stdout.readline().startswith("held")
    return holder


def _now() -> datetime:
    return datetime.now(UTC)


def _sent_copies(mail: Path) -> int:
    return sum(1 for folder in ("cur", "new") for _ in (mail / ".Sent" / folder).glob("sent-*"))


@pytest.mark.parametrize("pause", [LEASE.heartbeat_seconds, 0.0], ids=["in-step", "continuously"])
def test_a_live_holder_on_another_host_keeps_its_claims_for_many_leases(
        pg_url: str, pg_uow: Callable[[], UnitOfWork], tmp_path: Path, pause: float) -> None:
    """Another sender checks the claims in step with the holder's heartbeat, or without pause: each
    check locks the rows for a moment, and the heartbeat must renew them all the same."""
    ids = _queue(pg_uow, 2)
    box = MaildirMailbox(tmp_path / "mail", "safeguarding@example-icb.test")
    holder = _hold(pg_url, tmp_path / "mail", ids)
    try:
        deadline = time.monotonic() + 4 * LEASE.lease_seconds
        while time.monotonic() < deadline:
            assert set(send_entries(ids, mailbox=box, uow=pg_uow, now=_now, lease=LEASE).values()) == {
                "in-progress"}
            time.sleep(pause)
    finally:
        holder.kill()
        holder.wait()
    assert _sent_copies(tmp_path / "mail") == 0


class _SlowSent(MaildirMailbox):
    """A mailbox whose Sent folder takes two leases to answer, then cannot be searched."""

    def in_sent(self, message_id: str) -> bool:
        time.sleep(2 * LEASE.lease_seconds)
        raise MailboxError("Sent could not be searched")


def test_a_live_holder_keeps_its_claims_while_another_sender_searches_sent_for_the_same_batch(
        pg_url: str, pg_uow: Callable[[], UnitOfWork], tmp_path: Path) -> None:
    """The other sender's batch also holds an interrupted entry, whose Sent search is slow: the live
    holder's entries must not stay locked by that sender meanwhile, or the heartbeat cannot renew
    them. Their claim's age is watched throughout: it never reaches the lease."""
    *held, interrupted = _queue(pg_uow, 3)
    with pg_uow() as u:
        u.session.execute(update(OutboxEntry).where(OutboxEntry.id == interrupted).values(attempts=1))
        u.commit()
    box = _SlowSent(tmp_path / "mail", "safeguarding@example-icb.test")
    holder = _hold(pg_url, tmp_path / "mail", held)
    seen: list[list[str]] = []
    stop = threading.Event()

    def other_sender() -> None:
        while not stop.is_set():
            statuses = send_entries([*held, interrupted], mailbox=box, uow=pg_uow, now=_now, lease=LEASE)
            seen.append([statuses[i] for i in [*held, interrupted]])

    sender = threading.Thread(target=other_sender)
    sender.start()
    oldest = 0.0
    try:
        deadline = time.monotonic() + 4 * LEASE.lease_seconds
        while time.monotonic() < deadline:
            with pg_uow() as u:
                claimed = u.session.scalars(select(OutboxEntry.claimed_at).where(OutboxEntry.id.in_(held)))
                oldest = max(oldest, *((_now() - at.replace(tzinfo=at.tzinfo or UTC)).total_seconds()
                                       for at in claimed if at))
            time.sleep(0.1)
    finally:
        stop.set()
        sender.join()
        holder.kill()
        holder.wait()
    assert oldest < LEASE.lease_seconds - LEASE.heartbeat_seconds
    assert seen and all(s == ["in-progress", "in-progress", "deferred"] for s in seen)
    assert _sent_copies(tmp_path / "mail") == 0


def test_a_killed_holders_claims_are_taken_over_within_the_lease_and_one_heartbeat(
        pg_url: str, pg_uow: Callable[[], UnitOfWork], tmp_path: Path) -> None:
    ids = _queue(pg_uow, 3)
    box = MaildirMailbox(tmp_path / "mail", "safeguarding@example-icb.test")
    holder = _hold(pg_url, tmp_path / "mail", ids)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    died = time.monotonic()
    while set(send_entries(ids, mailbox=box, uow=pg_uow, now=_now, lease=LEASE).values()) != {"sent"}:
        time.sleep(0.1)
    assert time.monotonic() - died <= LEASE.lease_seconds + LEASE.heartbeat_seconds + 0.5
    assert _sent_copies(tmp_path / "mail") == 3


def test_what_a_killed_holder_had_sent_is_found_in_sent_and_never_sent_again(
        pg_url: str, pg_uow: Callable[[], UnitOfWork], tmp_path: Path) -> None:
    ids = _queue(pg_uow, 3)
    box = MaildirMailbox(tmp_path / "mail", "safeguarding@example-icb.test")
    holder = _hold(pg_url, tmp_path / "mail", ids, send=True)  # sent, then killed before recording it
    holder.kill()
    holder.wait()
    while set(send_entries(ids, mailbox=box, uow=pg_uow, now=_now, lease=LEASE).values()) != {"sent"}:
        time.sleep(0.1)
    assert _sent_copies(tmp_path / "mail") == 3  # one each: found in Sent, not sent again
    with pg_uow() as u:
        assert {e.status for e in u.register.outbox_entries_for_update(ids)} == {"sent"}
        assert {e.attempts for e in u.session.query(OutboxEntry).filter(OutboxEntry.id.in_(ids))} == {1}
