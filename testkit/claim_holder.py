"""A sender on "another host", for the failover test and bench: it claims outbox entries as host
`--host` (not this machine's name, so it is judged by its lease alone, as a container or machine
elsewhere is), optionally sends them, then holds the claims, its heartbeat renewing them, until it is
killed. It prints "held" once the claims are committed.

    python -m testkit.claim_holder URL MAILDIR ID... [--host other-host] [--send]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("maildir", type=Path)
    parser.add_argument("ids", nargs="+", type=int)
    parser.add_argument("--host", help="the host name to claim as (default: this one's, e.g. a container's)")
    parser.add_argument("--send", action="store_true", help="send them before holding (not recorded)")
    parser.add_argument("--heartbeat", type=float, default=1)
    parser.add_argument("--lease", type=float, default=3)
    args = parser.parse_args(argv)
    if args.host:
        socket.gethostname = lambda: args.host  # claims read "<host>:<pid>": a process on another host

    from safeguard.adapters.mail.maildir import MaildirMailbox
    from safeguard.adapters.notify.outbox import ClaimLease, claim_entries, transmit
    from safeguard.adapters.register.db import make_engine
    from safeguard.adapters.register.uow import uow_factory

    uow = uow_factory(make_engine(args.url))
    box = MaildirMailbox(args.maildir, "safeguarding@example-icb.test")
    with uow() as u:
        claims, _ = claim_entries(u, args.ids, box, lambda: datetime.now(UTC),
                                  ClaimLease(args.heartbeat, args.lease))
        u.commit()
    if args.send:
        transmit(claims, box)
    sys.stdout.write(f"held {len(claims)}\n")
    sys.stdout.flush()
    while True:  # mid-batch, as far as anyone can tell, until killed
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main())
