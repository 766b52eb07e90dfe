"""Soak: a large backlog through intake on the real IMAP/SMTP stack, watching for leaks.

    .venv/bin/python bench/soak.py [--count 5000] [--batch 500] [--database-url URL]

The backlog (half xlsx, half text forms) is delivered over SMTP, then read in batches exactly as
the intake task does (list, process, send what is unsent), in one long-lived process. After each
batch it prints resident memory (now and peak), open file descriptors and open sockets. Flat
numbers after the first batches mean no leak; the last line compares the last batch with the
second (the first warms caches and imports).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, backlog, count_inbox  # noqa: E402
from safeguard.adapters.config_files import load_config  # noqa: E402
from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings  # noqa: E402
from safeguard.adapters.register.db import make_engine, migrate  # noqa: E402
from safeguard.adapters.register.uow import uow_factory  # noqa: E402
from safeguard.service_layer.intake import IntakeContext, process_batch  # noqa: E402
from safeguard.service_layer.sending import send_unsent  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descriptors() -> tuple[int, int]:
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return len(fds), sockets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts" / "mailstack.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    run = uuid.uuid4().hex[:6]
    address = f"bench-soak-{run}@example-icb.test"
    started = time.perf_counter()
    deliver_backlog(args.count, f"social-worker-{run}@coventry-council.test", address)
    print(f"delivered {args.count} submissions in {time.perf_counter() - started:.0f} s")

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/register.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT))
    ctx = IntakeContext(load_config(ROOT / "config"), box, uow_factory(engine), lambda: datetime.now(UTC))
    outcomes: Counter[str] = Counter()
    rows = []
    print(f"{'batch':>5} {'done':>6} {'msg/s':>6} {'RSS MB':>7} {'peak MB':>8} {'fds':>4} {'sockets':>7}")
    batch = 0
    while ids := box.list_new(args.batch):
        batch += 1
        t = time.perf_counter()
        outcomes.update(r.outcome for r in process_batch(ids, ctx))
        send_unsent(ctx)
        rate = len(ids) / (time.perf_counter() - t)
        fds, sockets = descriptors()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append((rss_mb(), fds, sockets))
        print(f"{batch:5d} {sum(outcomes.values()):6d} {rate:6.1f} {rows[-1][0]:7.1f} {peak:8.1f} "
              f"{fds:4d} {sockets:7d}")
    box.close()
    print(f"outcomes: {dict(outcomes)}")
    if len(rows) >= 3:
        (rss2, fd2, s2), (rss_n, fd_n, s_n) = rows[1], rows[-1]
        print(f"last batch vs second: RSS {rss_n - rss2:+.1f} MB, fds {fd_n - fd2:+d}, "
              f"sockets {s_n - s2:+d}; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def deliver_backlog(count: int, sender: str, address: str) -> None:
    """Build and send in slices of 1,000, so the loader itself stays small."""
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        for first in range(0, count, 1000):
            for raw in backlog(min(1000, count - first), sender, address):
                smtp.sendmail(sender, [address], raw)
    deadline = time.monotonic() + 900
    while count_inbox(address) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the mail stack did not deliver the backlog within 15 minutes")
        time.sleep(0.5)


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    main()
