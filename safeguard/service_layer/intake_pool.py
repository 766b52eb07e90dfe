"""Intake of a backlog by several processes at once.

Reading forms and composing replies is CPU work, so a backlog is shared between processes: each
takes the next chunk of messages (a shared counter) until none is left. This process takes chunks
from the start while the helpers start up, so a short batch is never slower than doing it alone.
Every chunk keeps process_batch's order (record, reply, then file), and two processes never hold
the same message; that two intakes may run at once at all is what tests/integration/test_concurrency
proves. Helpers are forked from a clean forkserver, never from a process with Prefect's threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized

from safeguard.domain.status import Outcome
from safeguard.service_layer import deferrals
from safeguard.service_layer.deferrals import Deferred
from safeguard.service_layer.intake import CHUNK, IntakeContext, IntakeResult, process_batch, process_chunks

log = logging.getLogger(__name__)

OpenContext = Callable[[], AbstractContextManager[IntakeContext]]
PRELOAD = ["safeguard.service_layer.helper_process", "safeguard.bootstrap",
           "safeguard.service_layer.intake_pool", "safeguard.domain.triage",
           "safeguard.adapters.mail.imap_smtp"]

STOPPED = "the process handling it stopped; the next run takes it"
_shared: tuple[Synchronized[int], list[list[str]], OpenContext] | None = None


def process_in_parallel(mailbox_ids: list[str], open_context: OpenContext,
                        workers: int) -> list[IntakeResult]:
    """process_batch over mailbox_ids, shared by up to `workers` processes (this one included).
    `open_context` must pickle (a module-level function, or a functools.partial of one): each
    helper opens its own mailbox connections and register sessions with it."""
    chunks = _chunks(mailbox_ids, workers)
    helpers = min(workers, -(-len(mailbox_ids) // CHUNK)) - 1  # a helper only for more than one full chunk
    with open_context() as ctx:
        if helpers < 1 or not ctx.mailbox.parallel_safe:
            return process_batch(mailbox_ids, ctx)
        mp = helper_context()
        counter = mp.Value("i", 0)
        done: dict[int, list[IntakeResult]] = {}
        with ProcessPoolExecutor(helpers, mp_context=mp, initializer=_share,
                                 initargs=(counter, chunks, open_context, dict(os.environ))) as pool:
            # Starting a helper waits for the forkserver to import PRELOAD: a thread waits for that,
            # while this process takes the first chunks.
            futures: list[Future[dict[int, list[IntakeResult]]]] = []
            starter = threading.Thread(target=_start_helpers, args=(pool, helpers, futures), daemon=True)
            starter.start()
            _share(counter, chunks, open_context)
            done.update(_drain_with(ctx))
            starter.join()
            for future in futures:
                try:
                    done.update(future.result())
                except Exception as exc:  # noqa: BLE001 - a helper died: its chunk waits for the next run
                    log.warning("an intake helper process stopped (%s)", type(exc).__name__)
            deferrals.count(ctx.uow, [Deferred(m, STOPPED) for index, chunk in enumerate(chunks)
                                      if index not in done for m in chunk], ctx.clock())
    results: list[IntakeResult] = []
    for index, chunk in enumerate(chunks):
        results += done.get(index) or [IntakeResult(m, None, Outcome.DEFERRED, STOPPED) for m in chunk]
    return results


def helper_context() -> multiprocessing.context.ForkServerContext:
    """Where helpers start: a forkserver that has imported PRELOAD once, so that each helper forked
    from it starts with the modules it needs (and without the parent's main module)."""
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(PRELOAD)
    return mp


def _chunks(mailbox_ids: list[str], workers: int) -> list[list[str]]:
    """Chunks of CHUNK, and smaller ones at the end (the last `workers` chunks' worth in quarters),
    so that the processes finish at nearly the same time instead of one waiting for another's
    last full chunk."""
    in_full = max(0, len(mailbox_ids) - CHUNK * workers) if workers > 1 else len(mailbox_ids)
    in_full -= in_full % CHUNK
    small = max(1, CHUNK // 4) if workers > 1 else CHUNK
    return ([mailbox_ids[start:start + CHUNK] for start in range(0, in_full, CHUNK)]
            + [mailbox_ids[start:start + small] for start in range(in_full, len(mailbox_ids), small)])


def _start_helpers(pool: ProcessPoolExecutor, helpers: int,
                   futures: list[Future[dict[int, list[IntakeResult]]]]) -> None:
    try:
        futures.extend(pool.submit(_drain) for _ in range(helpers))
    except Exception as exc:  # noqa: BLE001 - no helper: this process takes every chunk
        log.warning("intake helper processes could not start (%s)", type(exc).__name__)


def _share(counter: Synchronized[int], chunks: list[list[str]], open_context: OpenContext,
           environment: dict[str, str] | None = None) -> None:
    """Run first in each helper (and in this process). A forkserver keeps the environment of the
    moment it started, so helpers take this process's current one (config, database, keys)."""
    global _shared  # set once per helper process, by the pool's initializer
    if environment is not None:
        os.environ.clear()
        os.environ.update(environment)
    _shared = (counter, chunks, open_context)


def _drain() -> dict[int, list[IntakeResult]]:
    assert _shared is not None
    with _shared[2]() as ctx:
        return _drain_with(ctx)


def _drain_with(ctx: IntakeContext) -> dict[int, list[IntakeResult]]:
    assert _shared is not None
    counter, chunks, _ = _shared

    def taken() -> Iterator[tuple[int, list[str]]]:
        while True:
            with counter.get_lock():
                index = counter.value
                counter.value += 1
            if index >= len(chunks):
                return
            yield index, chunks[index]

    return dict(process_chunks(taken(), ctx))


@dataclass(frozen=True)
class IntakePass:
    """One pass over the mailbox: ids, outcomes and counts only (safe for logs and Prefect)."""

    fetched: int  # messages read from INBOX (a full batch means more may wait)
    results: tuple[IntakeResult, ...]
    fgm_files: dict[str, int]  # the FGM drop folder: imported, rejected
    sent: dict[str, int]  # the outbox: what became of what it held unsent (SendResult -> count)


def intake_pass(open_context: OpenContext, batch: int, workers: int) -> IntakePass:
    """The intake's steps, in order, for the flow's task and `safeguard intake --without-prefect`
    alike: read up to `batch` new messages, handle each (shared by `workers` processes), import
    the FGM drop folder, and send what the outbox holds unsent."""
    from safeguard.service_layer.fgm_intake import import_drop_folder
    from safeguard.service_layer.sending import send_unsent

    with open_context() as ctx:
        mailbox_ids = ctx.mailbox.list_new(batch)
    results = process_in_parallel(mailbox_ids, open_context, workers) if mailbox_ids else []
    with open_context() as ctx:
        fgm_files = import_drop_folder(ctx.uow, ctx.config, ctx.clock())
        sent = send_unsent(ctx)
    return IntakePass(len(mailbox_ids), tuple(results), fgm_files, sent)
