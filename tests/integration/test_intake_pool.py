"""A backlog shared by several intake processes: each message handled once, answered once."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.mail.port import Folder
from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.orm import InboundMessage, OutboxEntry
from safeguard.adapters.register.uow import uow_factory
from safeguard.service_layer import intake_pool
from safeguard.service_layer.intake import CHUNK, IntakeContext
from tests.conftest import NOW, put
from tests.factories import text_submission, xlsx_submission

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def open_site(mail: str, database_url: str, wait_in: int | None = None) -> Iterator[IntakeContext]:
    """Module-level, so that a partial of it reaches the helper processes. With wait_in (a process
    id), that process starts its first chunk only once a helper has taken one."""
    config = load_config(ROOT / "config")
    box = (WaitsForAHelper if os.getpid() == wait_in else MaildirMailbox)(
        Path(mail) / "safeguarding", config.settings.service.mailbox_address, Path(mail) / "delivered")
    yield IntakeContext(config, box, uow_factory(make_engine(database_url)), lambda: NOW)


class WaitsForAHelper(MaildirMailbox):
    """This process takes chunks while helpers start, and on a fast mailbox may finish a short
    backlog before any has: to see a helper at work, it waits for one to take a chunk first."""

    waited = False

    def fetch_many(self, mailbox_ids: list[str]) -> dict[str, bytes | None]:
        deadline = time.monotonic() + 60
        while not self.waited and time.monotonic() < deadline:
            assert intake_pool._shared is not None  # the shared chunk counter
            if intake_pool._shared[0].value >= 2:  # this process took 0, a helper 1
                break
            time.sleep(0.01)
        self.waited = True
        return super().fetch_many(mailbox_ids)


def test_a_backlog_shared_by_two_processes_is_handled_once_and_answered_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    migrate(make_engine(url))
    opener = partial(open_site, str(tmp_path / "mail"), url, os.getpid())
    count = 3 * CHUNK + 7
    with opener() as ctx:
        for n in range(count):
            reason = {"Reason for alert": f"Missing since yesterday (case {n})."}
            put(ctx.mailbox, xlsx_submission(**reason) if n % 2 else text_submission(**reason))
        ids = ctx.mailbox.list_new()
    results = intake_pool.process_in_parallel(ids, opener, workers=2)
    assert "helper process stopped" not in caplog.text
    assert [r.mailbox_id for r in results] == ids  # in the order asked, whichever process took each
    assert Counter(r.outcome for r in results) == {"accepted": count}
    assert sorted(r.reference for r in results) == [f"HSA-2026-{n:06d}" for n in range(1, count + 1)]
    with opener() as ctx:
        assert ctx.mailbox.folder_counts()["INBOX"] == 0
        sent = [email.message_from_bytes(p.read_bytes()) for p in ctx.mailbox.list_folder(Folder.SENT)]
        replies = [m for m in sent if m["In-Reply-To"]]  # not the approval-needed emails to the approvers
    assert len(replies) == count and len({r["In-Reply-To"] for r in replies}) == count  # one each
    with ctx.uow() as u:
        senders = set(u.session.scalars(select(OutboxEntry.claimed_by)))
        # each chunk's sends and filing are written by the next chunk's transaction, the last one's at the end
        statuses = Counter(u.session.scalars(select(OutboxEntry.status)))
        unfiled = u.session.scalars(select(InboundMessage.id).where(InboundMessage.filed_at.is_(None))).all()
        chain = verify_session(u.session)
    assert len(senders) == 2, senders  # this process and a helper each sent their share
    approvers = len(ctx.config.settings.service.approvers)  # each is sent an approval-needed email
    assert statuses == {"sent": count * (1 + approvers)} and unfiled == [] and chain.ok


def test_a_short_batch_is_done_here_without_starting_processes(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    migrate(make_engine(url))
    opener = partial(open_site, str(tmp_path / "mail"), url)
    with opener() as ctx:
        put(ctx.mailbox, text_submission())
        ids = ctx.mailbox.list_new()
    monkeypatch.setattr(intake_pool, "ProcessPoolExecutor", None)  # would fail if used
    [result] = intake_pool.process_in_parallel(ids, opener, workers=4)
    assert result.outcome == "accepted"


def test_a_backlog_of_one_chunk_is_done_here_even_though_its_chunks_are_small(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    migrate(make_engine(url))
    opener = partial(open_site, str(tmp_path / "mail"), url)
    with opener() as ctx:
        for n in range(CHUNK):
            put(ctx.mailbox, text_submission(**{"Reason for alert": f"Missing since yesterday (case {n})."}))
        ids = ctx.mailbox.list_new()
    monkeypatch.setattr(intake_pool, "ProcessPoolExecutor", None)  # would fail if used
    results = intake_pool.process_in_parallel(ids, opener, workers=2)
    assert Counter(r.outcome for r in results) == {"accepted": CHUNK}


HELPER_MAIN = """
import os, sys
if __name__ == "__mp_main__":  # what multiprocessing does in a new process, unless told otherwise
    open(os.environ["MAIN_IMPORTED"], "w").close()
if __name__ == "__main__":
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from safeguard.service_layer.intake_pool import helper_context
    context = helper_context() if sys.argv[1] == "helper" else multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(os.getpid).result() != os.getpid()
"""


@pytest.mark.parametrize(("context", "imports_main"), [("helper", False), ("plain forkserver", True)])
def test_helpers_start_without_running_the_parents_main_module(tmp_path: Path, context: str,
                                                               imports_main: bool) -> None:
    """Under a Prefect worker the main module is prefect.engine: about 0.8 s of CPU in every helper
    that imported it again. The plain forkserver shows that the test would see it happen."""
    script, marker = tmp_path / "main.py", tmp_path / "main-imported"
    script.write_text(HELPER_MAIN)
    subprocess.run([sys.executable, str(script), context], check=True, cwd=ROOT, timeout=120,
                   env={**os.environ, "MAIN_IMPORTED": str(marker), "PYTHONPATH": str(ROOT)})
    assert marker.exists() == imports_main
