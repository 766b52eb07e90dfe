"""What alerts waiting for approval cost, and that approving them all sends each notice once.

    .venv/bin/python bench/waiting.py [--alerts 200] [--through-form 10]

A Prefect server and `safeguard serve` run as on a site (tests/prefect_site.py), with the mailbox
and every person's mailbox on the real IMAP/SMTP stack. Measured:

1. idle baseline: the processes of the site (the server, `safeguard serve` and everything they
   started) and their total resident memory (RSS), the median of 5 samples a second apart, once
   intake has read one form with a problem (so that its attachment reader is running: it is
   intake's, not the waiting alerts');
2. `--alerts` submissions, answered by the scheduled intake, each starting an approval run that
   waits suspended with its form; once every run waits, the same measurement again. Target: no more
   processes than the baseline, and at most 50 MB more memory in all;
3. approving them all: `--through-form` as the Prefect UI does (the run resumed with the form's
   answer), the rest by email (APPROVE <reference> <code> from the approver, with the code from the
   approval-needed email). Then each provider's mailbox must hold exactly one notice per alert.

Needs the mail stack (scripts/mailstack.sh start).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import imaplib
import os
import re
import smtplib
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.register.crypto import new_key  # noqa: E402
from testkit import samples  # noqa: E402
from tests.mailstack import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, StackConfig, stack_config  # noqa: E402
from tests.prefect_site import Site, running_site, wait_for  # noqa: E402

CODE = re.compile(r"APPROVE (HSA-\d{4}-\d{6}) ([A-Z0-9]{8})")
PAGE = 4096


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def site_pids(site: Site) -> set[int]:
    """The site's processes and all their descendants."""
    tree, seen = _children(), set()
    todo = [p.pid for p in site.processes]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += tree.get(pid, [])
    return seen


def footprint(site: Site) -> tuple[int, int]:
    """(processes, bytes resident) of the site's processes and all their descendants."""
    pids = site_pids(site)
    return len(pids), sum(_rss(pid) for pid in pids)


def described(site: Site) -> str:
    """Each process in a few words (its command line, shortened), for the record."""
    words = []
    for pid in sorted(site_pids(site)):
        try:
            args = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words.append(" ".join(a.decode(errors="replace").rsplit("/", 1)[-1] for a in args[:4] if a)[:70])
    return "; ".join(words)


def measure(site: Site, samples_: int = 5) -> tuple[int, int]:
    taken = []
    for _ in range(samples_):
        taken.append(footprint(site))
        time.sleep(1)
    return (round(statistics.median(n for n, _ in taken)), round(statistics.median(b for _, b in taken)))


def count_runs(site: Site, state: str) -> int:
    body = {"flows": {"name": {"any_": ["alert-approval"]}},
            "flow_runs": {"state": {"type": {"any_": [state]}}}}
    return int(httpx.post(f"{site.api}/flow_runs/count", json=body, timeout=30).json())


def mailbox(address: str) -> list[bytes]:
    imap = imaplib.IMAP4(HOST, IMAP_PORT)
    imap.login(address, PASSWORD)
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("SEARCH", "ALL")
    found = [imap.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1] for uid in (data[0] or b"").split()]
    imap.logout()
    return found


def held(address: str) -> int:
    imap = imaplib.IMAP4(HOST, IMAP_PORT)
    imap.login(address, PASSWORD)
    _, data = imap.status("INBOX", "(MESSAGES)")
    imap.logout()
    m = re.search(rb"MESSAGES (\d+)", data[0] or b"")
    return int(m.group(1)) if m else 0


def codes(address: str) -> dict[str, str]:
    found = {}
    for raw in mailbox(address):
        body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))  # type: ignore[attr-defined]
        if body is not None and (m := CODE.search(body.get_content())):
            found[m.group(1)] = m.group(2)
    return found


def submit(config: StackConfig, alerts: int) -> None:
    today = date.today()
    form = samples.xlsx_form(samples.form_fields(today, **{"Social worker email": config.social_worker}),
                             samples.subjects(today))
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        for i in range(alerts):
            smtp.sendmail(config.social_worker, [config.mailbox], samples.submission(
                config.social_worker, config.mailbox, subject=f"Health alert {i}",
                attachments=[("form.xlsx", form)]))


def warm_up(config: StackConfig) -> None:
    today = date.today()
    form = samples.xlsx_form(samples.form_fields(today, **{"Social worker email": config.social_worker,
                                                           "Urgency": "Whenever"}), samples.subjects(today))
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        smtp.sendmail(config.social_worker, [config.mailbox], samples.submission(
            config.social_worker, config.mailbox, subject="Warm-up", attachments=[("form.xlsx", form)]))


def approve(site: Site, config: StackConfig, alerts: int, through_form: int) -> None:
    found = wait_for("every approval-needed email",
                     lambda: (c := codes(config.approver)) and len(c) >= alerts and c, 300, site.logs,
                     pause=2)
    body = {"flows": {"name": {"any_": ["alert-approval"]}},
            "flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": through_form}
    for run in httpx.post(f"{site.api}/flow_runs/filter", json=body, timeout=30).json():
        answer = {"decision": "approve", "approver_name": "Dana Nightingale", "reason": "",
                  "leave_out": [], "note": ""}
        httpx.post(f"{site.api}/flow_runs/{run['id']}/resume", json={"run_input": answer},
                   timeout=30).raise_for_status()
        found.pop(run["name"].split()[0], None)
    with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
        for reference, code in found.items():
            smtp.sendmail(config.approver, [config.mailbox], samples.submission(
                config.approver, config.mailbox, subject=f"APPROVE {reference} {code}", body="Approved.\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--through-form", type=int, default=10, help="approved as the Prefect UI does")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    home = Path(tempfile.mkdtemp(prefix="waiting-"))
    config = stack_config(home, f"sqlite:///{home / 'register.sqlite3'}")
    secrets = {"SAFEGUARD_DATA_KEYS": new_key(), "SAFEGUARD_HASH_KEY": new_key(),
               "SAFEGUARD_IMAP_PASSWORD": PASSWORD}
    with running_site(home, config.directory, secrets) as site:
        wait_for("the first intake run", lambda: site.runs(flow="intake", state="RUNNING"), 120, site.logs)
        warm_up(config)  # intake reads one form (starting its reader process) that opens no alert
        wait_for("the answer to the warm-up form", lambda: held(config.social_worker) >= 1, 300, site.logs)
        time.sleep(5)
        idle = measure(site)
        print(f"idle baseline: {idle[0]} processes, {idle[1] / 2**20:.0f} MB resident ({described(site)})",
              flush=True)
        started = time.monotonic()
        submit(config, args.alerts)
        wait_for(f"{args.alerts} approval runs waiting", lambda: count_runs(site, "PAUSED") >= args.alerts,
                 max(1800, 30 * args.alerts), site.logs, pause=5)  # a process start each, 8 at a time
        print(f"{args.alerts} approval runs waiting after {time.monotonic() - started:.0f} s", flush=True)
        wait_for("the last approval run's process to end", lambda: count_runs(site, "RUNNING") == 0
                 == count_runs(site, "SCHEDULED") == count_runs(site, "PENDING"), 300, site.logs, pause=2)
        time.sleep(10)
        waiting = measure(site)
        print(f"processes: {described(site)}", flush=True)
        print(f"{args.alerts} waiting: {waiting[0]} processes, {waiting[1] / 2**20:.0f} MB resident",
              flush=True)
        started = time.monotonic()
        approve(site, config, args.alerts, args.through_form)
        providers = [config.providers["UHCW"], config.providers["SWFT"]]
        wait_for("every notice", lambda: all(held(p) >= args.alerts for p in providers), 1800, site.logs,
                 pause=5)
        took = time.monotonic() - started
        time.sleep(30)  # anything sent twice would have arrived by now
        notices = {p: Counter(email.message_from_bytes(m)["Subject"] for m in mailbox(p)) for p in providers}
        still_waiting = count_runs(site, "PAUSED")
    extra_mb = (waiting[1] - idle[1]) / 2**20
    print(f"\nWaiting for approval, {args.alerts} alerts (target: 0 extra processes, at most 50 MB extra)")
    print(f"  idle baseline:   {idle[0]:4d} processes  {idle[1] / 2**20:7.0f} MB")
    print(f"  {args.alerts} waiting:     {waiting[0]:4d} processes  {waiting[1] / 2**20:7.0f} MB")
    print(f"  extra:           {waiting[0] - idle[0]:4d} processes  {extra_mb:7.0f} MB")
    print(f"Approving all {args.alerts} ({args.through_form} through the form, the rest by email): "
          f"{took:.0f} s")
    for address, subjects in notices.items():
        print(f"  {address}: {sum(subjects.values())} notices, {len(subjects)} different alerts, "
              f"{sum(n - 1 for n in subjects.values())} sent twice")
    print(f"  approval runs still waiting: {still_waiting}")


if __name__ == "__main__":
    main()
