"""What keeping a copy of each reply in Sent costs as Sent fills up, on the real Dovecot.

    .venv/bin/python bench/imap_sent.py [--copies 300] [--full 3000]

The IMAP adapter APPENDs every email it sends to Sent. It does so over a connection that keeps Sent
selected; the baseline, measured in the same run, is the same APPEND over a connection that has
INBOX selected (as the adapter did before). For each, the time a copy takes into an empty Sent and
into one already holding --full messages, and their ratio. Target: a copy into a full Sent costs
about what it costs into an empty one (ratio near 1), because a site's Sent only ever grows.
Needs the mail stack (scripts/mailstack.sh start).
"""

from __future__ import annotations

import argparse
import imaplib
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings, _append  # noqa: E402
from safeguard.adapters.mail.port import Folder  # noqa: E402
from tests.mailstack import HOST, IMAP_PORT, PASSWORD  # noqa: E402

REPLY = (b"From: safeguarding@example-icb.test\r\nTo: social-worker@coventry-council.test\r\n"
         b"Subject: Health alert received\r\nMessage-ID: <%s@example-icb.test>\r\n\r\n"
         + b"Thank you.\r\n" * 120)


def per_copy(selected: Folder, copies: int, full: int) -> tuple[float, float]:
    """Seconds a copy takes into an empty Sent, then into one holding `full` messages."""
    address = f"bench-sent-{uuid.uuid4().hex[:6]}@example-icb.test"
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD))
    try:
        empty = _timed(box, selected, copies)
        filler = imaplib.IMAP4(HOST, IMAP_PORT)
        filler.login(address, PASSWORD)
        filler.select(str(Folder.SENT))
        for _ in range(full - copies):
            _append(filler, str(Folder.SENT), REPLY % uuid.uuid4().hex.encode())
        filler.logout()
        return empty, _timed(box, selected, copies)
    finally:
        box.close()


def _timed(box: ImapSmtpMailbox, selected: Folder, copies: int) -> float:
    box._with_imap(lambda imap: None, selected)  # connected before the clock starts
    started = time.perf_counter()
    for _ in range(copies):
        box._with_imap(lambda imap: _append(imap, str(Folder.SENT), REPLY % uuid.uuid4().hex.encode()),
                       selected)
    return (time.perf_counter() - started) / copies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--full", type=int, default=3000)
    args = parser.parse_args()
    for label, selected in (("baseline: INBOX selected", Folder.INBOX),
                            ("adapter: Sent selected", Folder.SENT)):
        empty, full = per_copy(selected, args.copies, args.full)
        print(f"{label:26s} empty Sent {empty * 1000:5.2f} ms a copy, Sent of {args.full}: "
              f"{full * 1000:5.2f} ms  (ratio {full / empty:.2f})")


if __name__ == "__main__":
    main()
