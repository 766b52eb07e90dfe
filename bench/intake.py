"""Intake throughput on the real IMAP/SMTP stack, beside a raw baseline measured in the same run.

    .venv/bin/python bench/intake.py [--count 1000] [--database-url URL]

Baseline: plain imaplib fetch + smtplib send of the same messages, no processing.
Intake: the same messages through safeguard's intake (parse, check, register commit, reply
over SMTP with a copy APPENDed to Sent, move to a folder), exactly as the intake task runs it.
Prints both rates and their ratio (target: intake at least half the baseline's rate).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import smtplib
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from safeguard import samples
from safeguard.config import load_config
from safeguard.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings
from safeguard.register.crypto import new_key
from safeguard.register.db import make_engine, migrate
from safeguard.register.uow import uow_factory
from safeguard.service.intake import IntakeContext, process_batch, send_unsent

ROOT = Path(__file__).resolve().parents[1]
HOST, IMAP_PORT, SMTP_PORT, PASSWORD = "127.0.0.1", 10143, 10025, "test"
SENDER = "tamsin.holloway@coventry-council.test"

# A benchmark register is thrown away: throwaway keys for its encrypted columns.
os.environ.setdefault("SAFEGUARD_DATA_KEYS", new_key())
os.environ.setdefault("SAFEGUARD_HASH_KEY", new_key())

def backlog(count: int, to: str) -> list[bytes]:
    today = date.today()
    xlsx = samples.xlsx_form(samples.form_fields(today), samples.subjects(today))
    text = samples.text_form(samples.form_fields(today), samples.subjects(today))
    return [samples.submission(SENDER, to, attachments=[("form.xlsx", xlsx)]) if i % 2 == 0
            else samples.submission(SENDER, to, body=text) for i in range(count)]


def load(messages: list[bytes], to: str) -> None:
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        for raw in messages:
            smtp.sendmail(SENDER, [to], raw)
    deadline = time.monotonic() + 300
    while count_inbox(to) < len(messages):
        if time.monotonic() > deadline:
            raise SystemExit("the mail stack did not deliver the backlog within 5 minutes")
        time.sleep(0.2)


def count_inbox(address: str) -> int:
    imap = imaplib.IMAP4(HOST, IMAP_PORT)
    imap.login(address, PASSWORD)
    _, data = imap.select("INBOX", readonly=True)
    imap.logout()
    return int(data[0])


def baseline(address: str, sink: str) -> float:
    started = time.perf_counter()
    imap = imaplib.IMAP4(HOST, IMAP_PORT)
    imap.login(address, PASSWORD)
    imap.select("INBOX")
    _, data = imap.uid("SEARCH", "ALL")
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        for uid in data[0].split():
            raw = imap.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1]
            smtp.sendmail(address, [sink], raw)
    imap.logout()
    return time.perf_counter() - started


def intake(address: str, database_url: str) -> tuple[float, dict[str, int]]:
    config = load_config(ROOT / "config")
    engine = make_engine(database_url)
    migrate(engine)
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT))
    ctx = IntakeContext(config, box, uow_factory(engine), lambda: datetime.now(UTC))
    started = time.perf_counter()
    results = process_batch(box.list_new(), ctx)
    send_unsent(ctx)
    elapsed = time.perf_counter() - started
    box.close()
    return elapsed, dict(Counter(r.outcome for r in results))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts" / "mailstack.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
    run = uuid.uuid4().hex[:6]
    raw_box, our_box = f"bench-raw-{run}@example-icb.test", f"bench-intake-{run}@example-icb.test"
    messages = backlog(args.count, our_box)
    print(f"backlog: {args.count} submissions (half xlsx, half text), {sum(map(len, messages)) / 1e6:.1f} MB")
    load(messages, raw_box)
    load(messages, our_box)
    base = baseline(raw_box, f"bench-sink-{run}@example-icb.test")
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/register.sqlite3"
    ours, outcomes = intake(our_box, url)
    base_rate, our_rate = args.count / base, args.count / ours
    print(f"baseline (imaplib fetch + smtplib send): {base:7.2f} s  {base_rate:7.1f} msg/s")
    print(f"intake ({url.split(':')[0]} register):        {ours:7.2f} s  {our_rate:7.1f} msg/s  {outcomes}")
    print(f"ratio intake/baseline: {our_rate / base_rate:.2f} (target >= 0.50)")


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    main()
