"""Latency as the people at either end see it, on the real IMAP/SMTP stack with `safeguard serve`.

    .venv/bin/python bench/latency.py [--count 24] [--interval 4] [--modes polling,idle]

For each mode (intake watching the mailbox by polling every 5 s, or with IMAP IDLE) a Prefect
server and `safeguard serve` run as on a site. Submissions are sent at a steady rate, each from
its own social worker; measured:

- SMTP acceptance of the submission -> the reply arriving in that social worker's mailbox;
- the approval given (the run resumed with the form's answer, as the UI does) -> the last provider
  notice arriving in the providers' mailboxes.

Prints p50, p95 and max for both, per mode. Target: p95 under 30 s for both.
Needs the mail stack (scripts/mailstack.sh start).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.register.crypto import new_key  # noqa: E402
from testkit import samples  # noqa: E402
from tests.mailstack import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, stack_config  # noqa: E402
from tests.prefect_site import running_site, wait_for  # noqa: E402


def inbox_count(imap: imaplib.IMAP4) -> int:
    _, data = imap.status("INBOX", "(MESSAGES)")
    m = re.search(rb"MESSAGES (\d+)", data[0] or b"")
    return int(m.group(1)) if m else 0


class Watcher:
    """Notes when each watched mailbox first holds `expect` messages (one IMAP connection each)."""

    def __init__(self) -> None:
        self.targets: dict[str, tuple[imaplib.IMAP4, int]] = {}
        self.arrived: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def watch(self, address: str, expect: int) -> None:
        with self.lock:
            imap = self.targets[address][0] if address in self.targets else imaplib.IMAP4(HOST, IMAP_PORT)
            if address not in self.targets:
                imap.login(address, PASSWORD)
            self.targets[address] = (imap, expect)

    def _loop(self) -> None:
        while self.running:
            with self.lock:
                targets = list(self.targets.items())
            for address, (imap, expect) in targets:
                if (address, expect) not in self.arrived and inbox_count(imap) >= expect:
                    self.arrived[(address, expect)] = time.monotonic()
            time.sleep(0.1)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        for imap, _ in self.targets.values():
            imap.logout()


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"n={len(values):3d}  p50 {statistics.median(ordered):5.1f} s  p95 {p95:5.1f} s  "
            f"max {ordered[-1]:5.1f} s")


def run_mode(mode: str, count: int, interval: float) -> tuple[list[float], list[float]]:
    home = Path(tempfile.mkdtemp(prefix=f"latency-{mode}-"))
    config = stack_config(home, f"sqlite:///{home / 'register.sqlite3'}")
    settings = yaml.safe_load((config.directory / "settings.yaml").read_text())
    settings["mailbox"]["imap"]["idle"] = mode == "idle"
    settings["mailbox"]["poll_seconds"] = 5
    (config.directory / "settings.yaml").write_text(yaml.safe_dump(settings))
    secrets = {"SAFEGUARD_DATA_KEYS": new_key(), "SAFEGUARD_HASH_KEY": new_key(),
               "SAFEGUARD_AUDIT_KEY": new_key(), "SAFEGUARD_IMAP_PASSWORD": PASSWORD}
    today = date.today()
    invalid = samples.text_form(samples.form_fields(today, **{"Urgency": "Whenever"}),
                                samples.subjects(today))
    watcher = Watcher()
    acks: list[float] = []
    approvals: list[float] = []
    with running_site(home, config.directory, secrets) as site:
        wait_for("the first intake run", lambda: site.runs(flow="intake", state="RUNNING"), 90, site.logs)
        sent: dict[str, float] = {}
        with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
            for i in range(count):
                sender = f"sw{i}-{home.name[-6:]}@coventry-council.test".lower()
                watcher.watch(sender, 1)
                is_valid = i % 4 == 0  # one in four opens an alert; the rest are answered with their problems
                if is_valid:
                    form = samples.xlsx_form(samples.form_fields(today, **{"Social worker email": sender}),
                                             samples.subjects(today))
                    raw = samples.submission(sender, config.mailbox, subject=f"Health alert {i}",
                                             attachments=[("form.xlsx", form)])
                else:
                    raw = samples.submission(sender, config.mailbox, subject=f"Health alert {i}",
                                             body=invalid)
                smtp.sendmail(sender, [config.mailbox], raw)
                sent[sender] = time.monotonic()
                time.sleep(interval)
        wait_for("every reply", lambda: all((s, 1) in watcher.arrived for s in sent), 180, site.logs)
        acks = [watcher.arrived[(s, 1)] - t for s, t in sent.items()]

        alerts = (count + 3) // 4
        providers = [config.providers["UHCW"], config.providers["SWFT"]]
        for done in range(1, alerts + 1):
            for address in providers:
                watcher.watch(address, done)
            run = wait_for("an approval run waiting",
                           lambda: next(iter(site.runs(flow="alert-approval", state="PAUSED")), None), 120)
            wait_for("its form", lambda r=run: httpx.get(
                f"{site.api}/flow_runs/{r['id']}/input/paused-1-schema").status_code == 200, 30)
            started = time.monotonic()
            answer = {"decision": "approve", "approver_name": "Bench Approver", "reason": "", "leave_out": [],
                      "note": ""}
            for attempt in range(10):  # a busy server (SQLite) may answer 503 for a moment
                response = httpx.post(f"{site.api}/flow_runs/{run['id']}/resume", json={"run_input": answer})
                if response.status_code < 500 or attempt == 9:
                    response.raise_for_status()
                    break
                time.sleep(1)
            wait_for("the notices", lambda d=done: all((a, d) in watcher.arrived for a in providers), 120,
                     site.logs, pause=0.1)
            approvals.append(max(watcher.arrived[(a, done)] for a in providers) - started)
    watcher.close()
    return acks, approvals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between submissions")
    parser.add_argument("--modes", default="polling,idle")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results = {}
    for mode in args.modes.split(","):
        results[mode] = run_mode(mode, args.count, args.interval)
        print(f"\n{mode}: done", flush=True)
    print(f"\nLatency, {args.count} submissions one every {args.interval:g} s (target: p95 under 30 s)")
    for mode, (acks, approvals) in results.items():
        print(f"  {mode:8s} submission -> reply:        {percentiles(acks)}")
        print(f"  {mode:8s} approval -> last notice:    {percentiles(approvals)}")


if __name__ == "__main__":
    main()
