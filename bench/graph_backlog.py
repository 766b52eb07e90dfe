"""Reading a 50 MB backlog of 500 messages through the Graph adapter, with memory that stays flat.

    .venv/bin/python bench/graph_backlog.py [--count 500] [--kb 75]

The protocol-level Graph server (tests/graphsim.py) runs in a child process holding the backlog;
this process lists, fetches (streamed MIME), parses and files every message as intake does, and
prints its resident memory after each 100 messages: flat means memory does not grow with the backlog.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.mail.graph import GraphMailbox, GraphSettings, MemoryState  # noqa: E402
from safeguard.adapters.mail.inbound import parse_inbound  # noqa: E402
from safeguard.adapters.mail.port import Folder  # noqa: E402
from testkit import samples  # noqa: E402

MAILBOX = "safeguarding@example-icb.test"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(count: int, kb: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from tests.graphsim import GraphSim
    sim = GraphSim(mailbox=MAILBOX)
    sim.start()
    total = 0
    for n in range(count):
        raw = samples.submission("tamsin.holloway@coventry-council.test", MAILBOX, subject=f"form {n}",
                                 attachments=[("form.xlsx", os.urandom(kb * 1024))])
        total += len(raw)
        sim.deliver(raw)
    queue.put((sim.url, total))
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--kb", type=int, default=75)
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(args.count, args.kb, queue), daemon=True)
    server.start()
    url, total = queue.get(timeout=300)
    box = GraphMailbox(GraphSettings(address=MAILBOX, tenant_id="tenant-1", client_id="app-1",
                                     client_secret="s3cret", authority=url, graph_url=f"{url}/v1.0"),
                       MemoryState())
    start_rss, started = rss_mb(), time.perf_counter()
    samples_rss = []
    done = 0
    while ids := box.list_new(100):
        for mailbox_id in ids:
            raw = box.fetch(mailbox_id)
            assert raw is not None and parse_inbound(raw).attachments
            box.move(mailbox_id, Folder.PROCESSED)
            done += 1
        samples_rss.append(rss_mb())
        print(f"after {done:4d} messages: RSS {samples_rss[-1]:.0f} MB")
    elapsed = time.perf_counter() - started
    box.close()
    server.terminate()
    print(f"backlog: {done} messages, {total / 2**20:.0f} MB of MIME, read and filed in {elapsed:.1f} s "
          f"({done / elapsed:.0f} msg/s)")
    print(f"RSS: {start_rss:.0f} MB before, peak {max(samples_rss):.0f} MB, "
          "growth from the first 100 to the end "
          f"{samples_rss[-1] - samples_rss[0]:+.0f} MB")


if __name__ == "__main__":
    main()
