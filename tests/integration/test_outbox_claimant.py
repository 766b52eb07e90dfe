"""Intake helpers are forked from one forkserver that has already imported the outbox. Each must
still claim outbox entries as itself (host:pid), or one helper would take a sibling's live claim for
an interrupted one of its own, and send that entry a second time."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from threading import Barrier

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.notify.outbox import Sender, claim_entries, queue_email
from safeguard.adapters.notify.render import Rendered
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.uow import uow_factory
from safeguard.service_layer.intake_pool import helper_context
from tests.conftest import NOW, ROOT

_meeting: Barrier | None = None


def _meet(barrier: Barrier) -> None:
    global _meeting  # set once per helper process, by the pool's initializer
    _meeting = barrier


def claim_then_try_the_others(url: str, mail: str, mine: int, theirs: int) -> tuple[int, str | None, str]:
    """In a helper: claim my entry, wait until the sibling has claimed its own, then try to claim
    the sibling's while it is still alive (it waits for us before it returns)."""
    assert _meeting is not None
    _meeting.wait(timeout=60)  # both helpers are up, so each takes one of the two calls
    uow = uow_factory(make_engine(url))
    box = MaildirMailbox(Path(mail), "safeguarding@example-icb.test")
    with uow() as u:
        claim_entries(u, [mine], box, lambda: NOW)
        u.commit()
    _meeting.wait(timeout=60)
    with uow() as u:
        _, statuses = claim_entries(u, [theirs], box, lambda: NOW)
        u.commit()
    _meeting.wait(timeout=60)
    with uow() as u:
        [entry] = u.register.outbox_entries_for_update([mine])
        return os.getpid(), entry.claimed_by, statuses[theirs]


def test_two_helpers_forked_from_one_forkserver_claim_as_themselves_and_leave_each_others_claims(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    config = load_config(ROOT / "config")
    uow = uow_factory(engine)
    ids = []
    with uow() as u:
        for n in range(2):
            entry = queue_email(u.register, key=f"claimant:{n}", kind="reply:test",
                                rendered=Rendered("Subject", "text\n", "<p>text</p>"),
                                sender=Sender(config.settings.service.mailbox_address, "Safeguarding"),
                                recipients=["safeguarding@uhcw.test"], at=NOW)
            ids.append(entry.id)
        u.commit()
    mp = helper_context()  # the forkserver intake uses, with the modules it preloads
    with ProcessPoolExecutor(2, mp_context=mp, initializer=_meet, initargs=(mp.Barrier(2),)) as pool:
        futures = [pool.submit(claim_then_try_the_others, url, str(tmp_path / "mail"), mine, theirs)
                   for mine, theirs in (ids, ids[::-1])]
        results = [f.result(timeout=120) for f in futures]
    pids = {pid for pid, _, _ in results}
    assert len(pids) == 2 and os.getpid() not in pids
    for pid, claimed_by, sibling_claim in results:
        assert claimed_by == f"{socket.gethostname()}:{pid}"  # its own pid, not the forkserver's
        assert sibling_claim == "in-progress"  # a live sibling's claim is never taken over
