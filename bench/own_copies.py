"""What the IMAP mailbox's copy to itself costs intake, on the real Dovecot and Postfix.

    .venv/bin/python bench/own_copies.py [--count 200] [--rounds 3]

The IMAP adapter makes the mailbox one more SMTP recipient of every email it sends, so that an
email sent just before a crash (before its copy reached Sent) is not sent again; the next intake
pass files each copy (docs/design.md, "The outbox"). Each round delivers --count submissions, runs
intake over them and sends the replies and approval requests (the baseline: the work itself), then
waits for the mailbox's own copies and times the pass that files them. It prints the seconds per
message of each and their ratio, the median of --rounds. Target: the copies cost well under the
work they follow (ratio below 0.5), and no copy is left in INBOX or twice in Sent.
Needs the mail stack (scripts/mailstack.sh start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, count_inbox  # noqa: E402
from bench.soak import deliver_backlog  # noqa: E402
from safeguard.adapters.config_files import load_config  # noqa: E402
from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings  # noqa: E402
from safeguard.adapters.mail.port import Folder  # noqa: E402
from safeguard.adapters.register.db import make_engine, migrate  # noqa: E402
from safeguard.adapters.register.uow import uow_factory  # noqa: E402
from safeguard.service_layer.intake import IntakeContext, process_batch  # noqa: E402
from safeguard.service_layer.sending import send_unsent  # noqa: E402


def one_round(count: int) -> tuple[float, float, Counter[str]]:
    """Seconds per message: intake of the submissions with their emails sent, then the copies' pass."""
    run = uuid.uuid4().hex[:6]
    address = f"bench-copies-{run}@example-icb.test"
    deliver_backlog(count, f"social-worker-{run}@coventry-council.test", address)
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/register.sqlite3")
    migrate(engine)
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT))
    ctx = IntakeContext(load_config(ROOT / "config"), box, uow_factory(engine), lambda: datetime.now(UTC))
    try:
        started = time.perf_counter()
        outcomes = Counter(str(r.outcome) for r in process_batch(box.list_new(), ctx))
        send_unsent(ctx)
        work = (time.perf_counter() - started) / count
        sent = box.folder_counts()[str(Folder.SENT)]
        deadline = time.monotonic() + 300
        while count_inbox(address) < sent:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {count_inbox(address)} of {sent} copies arrived in 5 minutes")
            time.sleep(0.2)
        started = time.perf_counter()
        outcomes.update(str(r.outcome) for r in process_batch(box.list_new(), ctx))
        copies = (time.perf_counter() - started) / count
        in_sent = box.message_ids(Folder.SENT)
        if box.list_new() or len(in_sent) != len(set(in_sent)) or len(in_sent) != sent:
            raise SystemExit("a copy was left in INBOX or kept twice in Sent")
        return work, copies, outcomes
    finally:
        box.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.count) for _ in range(args.rounds)]
    for work, copies, outcomes in rounds:
        print(f"intake and its emails {work * 1000:6.1f} ms a submission; filing the copies "
              f"{copies * 1000:5.1f} ms a submission; {dict(outcomes)}")
    ratios = [copies / work for work, copies, _ in rounds]
    print(f"ratio copies/work: {statistics.median(ratios):.2f} median of {len(ratios)} "
          f"({', '.join(f'{r:.2f}' for r in ratios)}) (target < 0.50)")


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    main()
