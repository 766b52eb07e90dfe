"""One mailbox watcher at a time, handing over without a gap.

Intake is scheduled every minute and each run is a watcher. A lease in the register (the
`mailbox_state` row "intake-watcher") names the run holding the mailbox, when it last said it was
alive, and the run waiting to take over. A new run asks to take over; the holder looks at the lease
every few seconds while it waits for mail, and hands over when it sees a successor, so the mailbox
is always watched and never read by two watchers at once. Its heartbeat (keep_alive) says it is alive
every failover.heartbeat_seconds, reading mail or waiting; a holder silent for failover.lease_seconds
(its process killed, its host or container gone) is replaced by the next run, on any host, which
tells the admin team.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy.exc import OperationalError

from safeguard.adapters.heartbeat import Heartbeat
from safeguard.adapters.register.orm import MailboxState
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.service_layer.failures import report_watcher_stopped
from safeguard.service_layer.intake import IntakeContext

LEASE = "intake-watcher"
LOOK_SECONDS = 5  # how often a waiting holder looks for a successor: the longest a hand-over takes


class Wake(StrEnum):
    MAIL = "mail"  # mail is waiting in INBOX
    HAND_OVER = "hand over"  # a newer run is taking over, or has
    TIME_UP = "time up"  # the run's watch_seconds have passed


@dataclass(frozen=True)
class Lease:
    holder: str  # the Prefect flow run id of the watcher
    host: str
    pid: int
    beat: str  # ISO time of its last sign of life
    successor: str = ""  # a run waiting to take over

    def dead(self, now: datetime, lease_seconds: float) -> bool:
        silent = now - datetime.fromisoformat(self.beat) > timedelta(seconds=lease_seconds)
        return silent or (self.host == socket.gethostname() and not _alive(self.pid))


@dataclass(frozen=True)
class TakeOver:
    """The lease is ours. `replaced` names a holder that died without handing over."""

    replaced: str = ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(run_id: str, now: datetime) -> Lease:
    return Lease(run_id, socket.gethostname(), os.getpid(), now.isoformat())


def _change(uow: Callable[[], UnitOfWork], change: Callable[[Lease | None], Lease | None]
            ) -> tuple[Lease | None, Lease | None]:
    """Read the lease and write what `change` makes of it, in one transaction (tried again if two
    runs write it at the same moment). Returns the lease before and after."""
    for attempt in range(5):
        try:
            with uow() as u:
                row = u.session.get(MailboxState, LEASE, with_for_update=True)
                before = Lease(**json.loads(row.value)) if row and row.value else None
                after = change(before)
                if after != before:
                    value = json.dumps(asdict(after)) if after else ""
                    if row is None:
                        u.session.add(MailboxState(name=LEASE, value=value))
                    else:
                        row.value = value
                    u.commit()
                return before, after
        except OperationalError:  # SQLite: another run wrote the lease first; read it again
            if attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _claim(run_id: str, now: datetime, first: bool, lease_seconds: float,
           lease: Lease | None) -> Lease | None:
    """Ours if free, already ours, or its holder has died; otherwise we wait next in line. The
    newest run asking goes next in line (`first`), pushing out an older one still waiting."""
    if lease is None or lease.holder in ("", run_id) or lease.dead(now, lease_seconds):
        return _ours(run_id, now)
    return replace(lease, successor=run_id) if first else lease


def _beat(run_id: str, now: datetime, lease: Lease | None) -> Lease | None:
    """Alive: a new beat; but a successor waiting gets the lease at once."""
    if lease is None or lease.holder != run_id:
        return lease
    if lease.successor:
        return Lease(lease.successor, "", 0, now.isoformat())  # theirs from now
    return replace(lease, beat=now.isoformat())


def _renew(run_id: str, now: datetime, lease: Lease | None) -> Lease | None:
    """The heartbeat: alive, whatever it is doing (a successor waits until it looks)."""
    return replace(lease, beat=now.isoformat()) if lease is not None and lease.holder == run_id else lease


def _step_back(run_id: str, lease: Lease | None) -> Lease | None:
    return replace(lease, successor="") if lease is not None and lease.successor == run_id else lease


def _release(run_id: str, lease: Lease | None) -> Lease | None:
    if lease is None or lease.holder != run_id:
        return lease
    return Lease(lease.successor, "", 0, lease.beat) if lease.successor else None


def take_over(ctx: IntakeContext, run_id: str, patience: float,
              sleep: Callable[[float], None] = time.sleep) -> TakeOver | None:
    """Ask for the lease and wait (at most `patience` seconds) for the holder to hand it over.
    None if it was not ours in time (a newer run asked after us, or the holder never let go)."""
    deadline = time.monotonic() + patience
    first = True
    while True:
        before, lease = _change(ctx.uow, partial(_claim, run_id, ctx.clock(), first,
                                                 ctx.config.settings.failover.lease_seconds))
        first = False
        if lease is not None and lease.holder == run_id:
            replaced = before.holder if before and before.holder not in ("", run_id) else ""
            if replaced:
                report_watcher_stopped(ctx, replaced, run_id,
                                       round(ctx.config.settings.failover.lease_seconds))
            return TakeOver(replaced)
        if lease is not None and lease.successor != run_id:
            return None  # a newer run is next in line
        if time.monotonic() > deadline:  # the holder will not let go: no longer next in line
            _change(ctx.uow, partial(_step_back, run_id))
            return None
        sleep(0.5)


def still_watching(ctx: IntakeContext, run_id: str) -> bool:
    """Say this watcher is alive; False (and the lease handed over) when a successor waits or
    another run holds the lease now."""
    _, lease = _change(ctx.uow, partial(_beat, run_id, ctx.clock()))
    return lease is not None and lease.holder == run_id


def keep_alive(uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], run_id: str,
               every: float) -> Heartbeat:
    """The watcher's heartbeat, for the whole run (start it once the lease is ours): it ends when
    the lease is no longer this run's."""
    def beat() -> bool:
        _, lease = _change(uow, partial(_renew, run_id, clock()))
        return lease is not None and lease.holder == run_id
    return Heartbeat(beat, every, "intake-watcher")


def let_go(ctx: IntakeContext, run_id: str) -> None:
    """The run ends: a successor waiting gets the lease at once; otherwise it is left free."""
    _change(ctx.uow, partial(_release, run_id))


def wait_for_mail_or_successor(ctx: IntakeContext, run_id: str, seconds: float) -> Wake:
    """Watch the mailbox (IMAP IDLE or polling every mailbox.poll_seconds) for up to `seconds`,
    looking at the lease every LOOK_SECONDS."""
    deadline = time.monotonic() + seconds
    poll = ctx.config.settings.mailbox.poll_seconds
    while True:
        if not still_watching(ctx, run_id):
            return Wake.HAND_OVER
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Wake.TIME_UP
        if ctx.mailbox.wait_for_mail(min(LOOK_SECONDS, remaining), poll):
            return Wake.MAIL
