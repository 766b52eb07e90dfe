"""Latency as the people at either end see it, with a real Prefect server and `safeguard serve`.

    .venv/bin/python bench/latency.py [--count 60] [--interval 2] [--modes polling,idle,graph]

For each mode a Prefect server and `safeguard serve` run as on a site, and intake watches the
mailbox continuously (the watcher of prefect.yaml): `polling` (IMAP on Dovecot/Postfix, looking
every mailbox.poll_seconds, default 2), `idle` (IMAP IDLE) and `graph` (the Graph adapter against
the simulator in tests/graphsim.py, polling with delta queries). Submissions are sent at a steady
rate, each from its own social worker; one in three opens an alert, the rest are answered with
their problems. Measured:

- submission accepted (SMTP, or delivered into the simulated mailbox) -> the reply in that social
  worker's mailbox;
- approval given -> the last provider notice in the providers' mailboxes, two ways taken in turn:
  `safeguard approve` on the command line (a new process: whatever the run waiting in Prefect does,
  the notices leave from the command), and the waiting run resumed with the form's answer through
  the API, as the Prefect UI does.

Prints n, p50, p95 and max for each. Target: p95 at most 5 s for submission -> reply in every mode
and for approval -> last notice. Needs the mail stack (scripts/mailstack.sh start).
"""

from __future__ import annotations

import argparse
import imaplib
import json
import multiprocessing
import os
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.register.crypto import new_key  # noqa: E402
from testkit import samples  # noqa: E402
from tests.graphsim import GraphSim  # noqa: E402
from tests.identitysim import send_json  # noqa: E402
from tests.mailstack import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, StackConfig, stack_config  # noqa: E402
from tests.prefect_site import Site, running_site, wait_for  # noqa: E402

VALID_EVERY = 3  # one submission in three is a valid form that opens an alert


class Arrivals:
    """Notes when each watched mailbox first holds `expect` messages, looking every 50 ms."""

    def __init__(self, count: Callable[[str], int]) -> None:
        self.count = count
        self.targets: dict[str, int] = {}
        self.arrived: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def watch(self, address: str, expect: int) -> None:
        with self.lock:
            self.targets[address] = expect

    def _loop(self) -> None:
        while self.running:
            with self.lock:
                targets = list(self.targets.items())
            for address, expect in targets:
                if (address, expect) not in self.arrived and self.count(address) >= expect:
                    self.arrived[(address, expect)] = time.monotonic()
            time.sleep(0.05)

    def close(self) -> None:
        self.running = False
        self.thread.join()


class ImapCounts:
    """Messages in each address's INBOX on Dovecot, one IMAP connection per address."""

    def __init__(self) -> None:
        self.connections: dict[str, imaplib.IMAP4] = {}

    def __call__(self, address: str) -> int:
        if address not in self.connections:
            self.connections[address] = imaplib.IMAP4(HOST, IMAP_PORT)
            self.connections[address].login(address, PASSWORD)
        _, data = self.connections[address].status("INBOX", "(MESSAGES)")
        m = re.search(rb"MESSAGES (\d+)", data[0] or b"")
        return int(m.group(1)) if m else 0

    def close(self) -> None:
        for imap in self.connections.values():
            imap.logout()


class BenchGraphSim(GraphSim):
    """The Graph simulator with three calls of the bench's own under /bench/: set the mailbox, deliver
    a message into it, count what was sent to an address."""

    def _handle(self, h, method: str) -> None:  # a BaseHTTPRequestHandler
        parts = urlsplit(h.path)
        if not parts.path.startswith("/bench/"):
            return super()._handle(h, method)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if parts.path == "/bench/mailbox":
            self.mailbox = json.loads(body)["address"]
            return send_json(h, 200, {})
        if parts.path == "/bench/deliver":
            return send_json(h, 200, {"id": self.deliver(body)})
        with self.lock:
            return send_json(h, 200, {"sent": len(self.sent_to(parse_qs(parts.query)["to"][0]))})


def serve_graph(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sim = BenchGraphSim(mailbox="")
    sim.start()
    queue.put(sim.url)
    while True:
        time.sleep(3600)


class RemoteGraph:
    """The simulator in a process of its own, as Microsoft's servers are on machines of their own (in
    this process it would share its CPU time, and the interpreter, with the bench's own watching)."""

    def __init__(self) -> None:
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        self.process = multiprocessing.Process(target=serve_graph, args=(queue,), daemon=True)
        self.process.start()
        self.url = queue.get(timeout=60)
        self.client = httpx.Client(timeout=30)

    def use_mailbox(self, address: str) -> None:
        self.client.post(f"{self.url}/bench/mailbox", json={"address": address}).raise_for_status()

    def deliver(self, raw: bytes) -> None:
        self.client.post(f"{self.url}/bench/deliver", content=raw).raise_for_status()

    def sent_to(self, address: str) -> int:
        return int(self.client.get(f"{self.url}/bench/sent", params={"to": address}).json()["sent"])

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"n={len(values):3d}  p50 {statistics.median(ordered):5.1f} s  p95 {p95:5.1f} s  "
            f"max {ordered[-1]:5.1f} s")


def site_config(home: Path, mode: str, graph_url: str | None) -> StackConfig:
    config = stack_config(home, f"sqlite:///{home / 'register.sqlite3'}", graph_url=graph_url)
    settings = yaml.safe_load((config.directory / "settings.yaml").read_text())
    if mode != "graph":
        settings["mailbox"]["imap"]["idle"] = mode == "idle"
    settings["mailbox"].pop("poll_seconds", None)  # the default, as a site has it
    (config.directory / "settings.yaml").write_text(yaml.safe_dump(settings))
    return config


def approver_name(config: StackConfig) -> str:
    """A listed approver's name if the configuration lists approvers by name, else any name."""
    approvers = yaml.safe_load((config.directory / "settings.yaml").read_text())["service"].get("approvers")
    first = (approvers or [None])[0]
    return first["name"] if isinstance(first, dict) and "name" in first else "Bench Approver"


def submissions(config: StackConfig, count: int, tag: str) -> list[tuple[str, bytes, bool]]:
    today = date.today()
    invalid = samples.text_form(samples.form_fields(today, **{"Urgency": "Whenever"}),
                                samples.subjects(today))
    made = []
    for i in range(count):
        sender = f"sw{i}-{tag}@coventry-council.test".lower()
        valid = i % VALID_EVERY == 0
        if valid:
            form = samples.xlsx_form(samples.form_fields(today, **{"Social worker email": sender}),
                                     samples.subjects(today))
            raw = samples.submission(sender, config.mailbox, subject=f"Health alert {i}",
                                     attachments=[("form.xlsx", form)])
        else:
            raw = samples.submission(sender, config.mailbox, subject=f"Health alert {i}", body=invalid)
        made.append((sender, raw, valid))
    return made


def approve_by_command(site: Site, reference: str, by: str) -> None:
    done = site.safeguard("approve", reference, "--by", by, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"safeguard approve {reference} failed: {done.stdout[-500:]} {done.stderr[-500:]}")


def approve_through_api(site: Site, run_id: str, by: str) -> None:
    answer = {"decision": "approve", "approver_name": by, "reason": "", "leave_out": [], "note": ""}
    for attempt in range(10):  # a busy server (SQLite) may answer 503 for a moment
        response = httpx.post(f"{site.api}/flow_runs/{run_id}/resume", json={"run_input": answer})
        if response.status_code < 500 or attempt == 9:
            response.raise_for_status()
            return
        time.sleep(1)


def waiting_runs(site: Site) -> list[dict]:
    """Approval runs waiting for an answer, whether paused or suspended, oldest first."""
    return site.runs(flow="alert-approval", state="PAUSED")


def run_mode(mode: str, count: int, interval: float) -> dict[str, list[float]]:
    home = Path(tempfile.mkdtemp(prefix=f"latency-{mode}-"))
    sim = RemoteGraph() if mode == "graph" else None
    config = site_config(home, mode, sim.url if sim else None)
    if sim:
        sim.use_mailbox(config.mailbox)
    secrets = {"SAFEGUARD_DATA_KEYS": new_key(), "SAFEGUARD_HASH_KEY": new_key(),
               "SAFEGUARD_AUDIT_KEY": new_key(), "SAFEGUARD_IMAP_PASSWORD": PASSWORD,
               "SAFEGUARD_GRAPH_CLIENT_SECRET": "s3cret"}
    imap_counts = ImapCounts()
    arrivals = Arrivals(sim.sent_to if sim else imap_counts)
    results: dict[str, list[float]] = {"reply": [], "approve (command)": [], "approve (Prefect form)": [],
                                       "load": [os.getloadavg()[0]]}
    by = approver_name(config)
    try:
        with running_site(home, config.directory, secrets) as site:
            wait_for("the intake watcher", lambda: site.runs(flow="intake", state="RUNNING"), 120, site.logs)
            time.sleep(3)  # the first watcher has its lease and has read the empty inbox
            sent: dict[str, float] = {}
            with smtplib.SMTP(HOST, SMTP_PORT) as smtp:
                for sender, raw, _valid in submissions(config, count, home.name[-6:]):
                    arrivals.watch(sender, 1)
                    if sim:
                        sim.deliver(raw)
                    else:
                        smtp.sendmail(sender, [config.mailbox], raw)
                    sent[sender] = time.monotonic()
                    time.sleep(interval)
            wait_for("every reply", lambda: all((s, 1) in arrivals.arrived for s in sent), 180, site.logs)
            results["reply"] = [arrivals.arrived[(s, 1)] - t for s, t in sent.items()]
            results["load"].append(os.getloadavg()[0])
            alerts = (count + VALID_EVERY - 1) // VALID_EVERY
            results.update(measure_approvals(site, config, arrivals, by, alerts))
            results["load"].append(os.getloadavg()[0])
    finally:
        arrivals.close()
        imap_counts.close()
        if sim:
            sim.stop()
    return results


def measure_approvals(site: Site, config: StackConfig, arrivals: Arrivals, by: str,
                      alerts: int) -> dict[str, list[float]]:
    providers = [config.providers["UHCW"], config.providers["SWFT"]]
    timings: dict[str, list[float]] = {"approve (command)": [], "approve (Prefect form)": []}
    answered: set[str] = set()
    for done in range(1, alerts + 1):
        for address in providers:
            arrivals.watch(address, done)
        run = wait_for("an approval run waiting", lambda: next(
            (r for r in waiting_runs(site) if r["id"] not in answered), None), 120, site.logs)
        wait_for("its form", lambda r=run: [i for i in httpx.post(
            f"{site.api}/flow_runs/{r['id']}/input/filter", json={"prefix": ""}).json()
            if i["key"].endswith("-schema")], 30)
        reference = run["name"].split()[0]
        by_command = done % 2 == 1
        started = time.monotonic()
        if by_command:
            approve_by_command(site, reference, by)
        else:
            approve_through_api(site, run["id"], by)
        wait_for("the notices", lambda d=done: all((a, d) in arrivals.arrived for a in providers), 120,
                 site.logs, pause=0.1)
        took = max(arrivals.arrived[(a, done)] for a in providers) - started
        timings["approve (command)" if by_command else "approve (Prefect form)"].append(took)
        answered.add(run["id"])  # a run may show as waiting a moment longer: it is not chosen again
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between submissions")
    parser.add_argument("--modes", default="polling,idle,graph")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    print(f"Latency, {args.count} submissions one every {args.interval:g} s, one in {VALID_EVERY} an alert "
          f"(target: p95 at most 5 s) on {os.cpu_count()} cores", flush=True)
    for mode in args.modes.split(","):
        measured = run_mode(mode, args.count, args.interval)
        load = measured.pop("load")
        for what, values in measured.items():
            label = "submission -> reply" if what == "reply" else f"{what} -> last notice"
            print(f"  {mode:8s} {label:42s} {percentiles(values)}", flush=True)
        print(f"  {mode:8s} machine load (1-minute average) at start, after submissions, at end: "
              + ", ".join(f"{x:.1f}" for x in load), flush=True)


if __name__ == "__main__":
    main()
