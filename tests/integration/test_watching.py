"""The mailbox watcher's lease (service_layer/watching.py): one watcher at a time, handing over
without a gap, and a watcher that died replaced with the admin team told. On SQLite and PostgreSQL,
with a Maildir mailbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.register.orm import OutboxEntry
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.watching import (
    Wake,
    keep_alive,
    let_go,
    still_watching,
    take_over,
    wait_for_mail_or_successor,
)
from tests.factories import xlsx_submission

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _context(config: Config, maildir: MaildirMailbox, uow: Callable[[], UnitOfWork],
             clock: Clock) -> IntakeContext:
    return IntakeContext(config, maildir, uow, clock)


def _admin_emails(uow: Callable[[], UnitOfWork]) -> list[str]:
    with uow() as u:
        return [e.kind for e in u.session.query(OutboxEntry).all()]


def test_the_first_run_becomes_the_watcher_at_once(config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    assert take_over(ctx, "run-1", patience=0) is not None
    assert still_watching(ctx, "run-1")


def test_a_new_run_takes_over_only_when_the_watcher_hands_over_so_the_mailbox_is_never_unwatched(
        config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    taken: list[object] = []
    successor = threading.Thread(target=lambda: taken.append(take_over(ctx, "run-2", patience=30)))
    successor.start()
    while still_watching(ctx, "run-1"):  # the old watcher keeps watching until it sees run-2 waiting
        assert not taken
    successor.join(10)
    assert [t.replaced for t in taken] == [""]  # handed over, not replaced: nobody is told
    assert still_watching(ctx, "run-2") and not still_watching(ctx, "run-1")
    assert _admin_emails(uow) == []


def test_a_watcher_waiting_for_mail_hands_over_when_a_successor_asks(config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    successor = threading.Thread(target=take_over, args=(ctx, "run-2", 30))
    successor.start()
    assert wait_for_mail_or_successor(ctx, "run-1", 30) == Wake.HAND_OVER
    successor.join(10)


def test_a_watcher_waiting_for_mail_wakes_when_mail_arrives(config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    deliver(maildir.root, xlsx_submission())
    assert wait_for_mail_or_successor(ctx, "run-1", 30) == Wake.MAIL
    let_go(ctx, "run-1")
    assert wait_for_mail_or_successor(ctx, "run-1", 30) == Wake.HAND_OVER  # no longer the watcher


def test_a_watcher_that_died_is_replaced_by_the_next_run_and_the_admin_team_told(
        config, maildir, uow) -> None:
    clock = Clock()
    ctx = _context(config, maildir, uow, clock)
    take_over(ctx, "run-1", patience=0)  # ... and its process is killed: it never beats again
    assert take_over(ctx, "run-2", patience=0) is None  # still believed alive
    clock.now += timedelta(seconds=config.settings.failover.lease_seconds + 1)
    taken = take_over(ctx, "run-3", patience=0)
    assert taken is not None and taken.replaced == "run-1"
    assert _admin_emails(uow) == ["admin:watcher-stopped"]
    assert still_watching(ctx, "run-3")


def test_a_watcher_whose_heartbeat_beats_is_never_replaced_however_long_it_reads_and_is_once_it_stops(
        config, maildir, uow) -> None:
    clock = Clock()
    ctx = _context(config, maildir, uow, clock)
    lease = timedelta(seconds=config.settings.failover.lease_seconds + 1)
    take_over(ctx, "run-1", patience=0)
    with keep_alive(uow, clock, "run-1", every=0.1):  # a long read pass: it never looks at the lease
        for _ in range(3):
            clock.now += lease
            time.sleep(0.5)  # a few beats at the new time
            assert take_over(ctx, "run-2", patience=0) is None  # alive: never taken from it
    clock.now += lease  # its process (and heartbeat) gone for a lease
    taken = take_over(ctx, "run-3", patience=0)
    assert taken is not None and taken.replaced == "run-1"


def test_a_run_that_waits_in_vain_steps_back_so_the_watcher_hands_over_to_nobody_gone(
        config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    assert take_over(ctx, "run-2", patience=0) is None  # gave up: no longer next in line
    assert still_watching(ctx, "run-1")


def test_a_newer_run_goes_next_in_line_and_the_older_one_waiting_ends(config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    taken: list[object] = []
    older = threading.Thread(target=lambda: taken.append(take_over(ctx, "run-2", patience=30)))
    older.start()
    while not _waiting_for(ctx, "run-2"):
        pass
    newer = threading.Thread(target=lambda: taken.append(take_over(ctx, "run-3", patience=30)))
    newer.start()
    older.join(10)
    assert taken == [None]  # run-2 saw run-3 in line after it, and ended
    assert not still_watching(ctx, "run-1")  # run-1 hands over to run-3
    newer.join(10)
    assert still_watching(ctx, "run-3")


def test_a_run_ending_hands_the_mailbox_to_the_run_waiting(config, maildir, uow) -> None:
    ctx = _context(config, maildir, uow, Clock())
    take_over(ctx, "run-1", patience=0)
    taken: list[object] = []
    waiting = threading.Thread(target=lambda: taken.append(take_over(ctx, "run-2", patience=30)))
    waiting.start()
    while not _waiting_for(ctx, "run-2"):
        pass
    let_go(ctx, "run-1")
    waiting.join(10)
    assert taken and still_watching(ctx, "run-2")


def _waiting_for(ctx: IntakeContext, run_id: str) -> bool:
    from safeguard.adapters.register.orm import MailboxState
    from safeguard.service_layer.watching import LEASE
    with ctx.uow() as u:
        row = u.session.get(MailboxState, LEASE)
        return row is not None and f'"successor": "{run_id}"' in row.value
