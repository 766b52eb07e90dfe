"""Poison messages: time and peak memory of each, beside a normal form read in the same run.

    .venv/bin/python bench/poison.py [--rounds 3]

Each scenario runs in a fresh process on the Maildir default (a temporary Maildir and SQLite
register): the poison message(s), then a valid xlsx form behind them, through intake as one
batch. Printed per scenario: the median over the rounds of the wall time, the peak resident
memory of the intake process and of its attachment reader process, and the outcomes; the valid
form behind must be answered (accepted) in the same run. Targets (docs/bounded-input.md): each
poison scenario within 10 s and 256 MB above the baseline, and the form behind it answered.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.adapters.config_files import load_config  # noqa: E402
from safeguard.adapters.mail.maildir import MaildirMailbox, deliver  # noqa: E402
from safeguard.adapters.register.crypto import new_key  # noqa: E402
from safeguard.adapters.register.db import make_engine, migrate  # noqa: E402
from safeguard.adapters.register.uow import uow_factory  # noqa: E402
from tests import hostile  # noqa: E402
from tests.corpus.build import msg  # noqa: E402
from tests.factories import INBOX, SW  # noqa: E402

os.environ.setdefault("SAFEGUARD_DATA_KEYS", new_key())
os.environ.setdefault("SAFEGUARD_HASH_KEY", new_key())
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", new_key())
SCENARIOS = ("baseline: one normal form", "workbook listing a sheet 100 times",
             "workbook listing a sheet 10,000 times", "MIME 5,000 deep", "twelve 36 MB messages in one chunk")
TARGET_SECONDS, TARGET_MB = 10, 256


def poison(scenario: int) -> list[bytes]:
    if scenario == 1:
        return [msg(attachments=(("form.xlsx", hostile.repeated_sheet_xlsx(100)),),
                    mid="<p100@coventry-council.test>")]
    if scenario == 2:
        return [msg(attachments=(("form.xlsx", hostile.repeated_sheet_xlsx(10_000)),),
                    mid="<p10000@coventry-council.test>")]
    if scenario == 3:
        return [hostile.deep_mime(5000, SW, INBOX)]
    if scenario == 4:
        blob = os.urandom(27 * 1024 * 1024)  # 36 MB once in base64
        return [msg(attachments=(("scan.pdf", blob),), mid=f"<big{n}@coventry-council.test>")
                for n in range(12)]
    return []


def prepare(scenario: int) -> Path:
    """A Maildir holding the scenario's messages, then the valid form (written by this process, so
    that building them does not count against the intake process's memory)."""
    work = Path(tempfile.mkdtemp(prefix="bench-poison-"))
    box = MaildirMailbox(work / "mail", INBOX, None)
    for raw in poison(scenario):
        deliver(box.root, raw)
        del raw
    (work / "behind").write_text(deliver(box.root, msg(attachments=(("form.xlsx", hostile.valid_xlsx()),),
                                                       mid="<behind@coventry-council.test>")).name)
    return work


def one(work: Path) -> dict[str, object]:
    """Run one prepared scenario in this (fresh) process; the figures as JSON on stdout."""
    from safeguard.adapters.workbooks import reader
    from safeguard.service_layer.intake import IntakeContext, process_batch

    box = MaildirMailbox(work / "mail", INBOX, None)
    valid = (work / "behind").read_text()
    engine = make_engine(f"sqlite:///{work}/register.sqlite3")
    migrate(engine)
    ctx = IntakeContext(load_config(ROOT / "config"), box, uow_factory(engine), lambda: datetime.now(UTC))
    ids = box.list_new()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    results = process_batch(ids, ctx)
    seconds = time.perf_counter() - started
    reader_peak = max((_peak_mb(r._proc.pid) for r in reader._readers.values() if r._proc), default=0.0)
    reader.stop_readers()
    shutil.rmtree(work, ignore_errors=True)
    behind = next(r.outcome for r in results if r.mailbox_id == valid)
    # VmHWM, not ru_maxrss: the latter keeps the peak of the process this one was forked from
    return {"seconds": seconds, "rss_mb": _peak_mb(os.getpid()),
            "rss_before_mb": before / 1024, "reader_mb": reader_peak,
            "outcomes": dict(Counter(f"{r.outcome}/{r.reason}" for r in results if r.mailbox_id != valid)),
            "behind": behind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one)))
        return
    runs: dict[int, list[dict]] = {n: [] for n in range(len(SCENARIOS))}
    for _round in range(args.rounds):
        for n in runs:
            out = subprocess.run([sys.executable, __file__, "--one", str(prepare(n))], check=True,
                                 capture_output=True, text=True,
                                 env={**os.environ, "PYTHONWARNINGS": "ignore"}).stdout
            runs[n].append(json.loads(out.strip().splitlines()[-1]))
    base = _median(runs[0], "rss_mb") + _median(runs[0], "reader_mb")
    print(f"{'scenario':<40} {'seconds':>8} {'s/msg':>6} {'intake MB':>10} {'reader MB':>10} "
          f"{'above base':>11}  form behind  outcomes")
    ok = True
    for n, name in enumerate(SCENARIOS):
        seconds, rss, reader = (_median(runs[n], k) for k in ("seconds", "rss_mb", "reader_mb"))
        above = rss + reader - base
        behind = {r["behind"] for r in runs[n]}
        per_message = seconds / max(1, sum(runs[n][-1]["outcomes"].values()))  # type: ignore[union-attr]
        ok &= n == 0 or (per_message <= TARGET_SECONDS and above <= TARGET_MB and behind == {"accepted"})
        print(f"{name:<40} {seconds:8.2f} {per_message:6.2f} {rss:10.0f} {reader:10.0f} {above:+11.0f}  "
              f"{'/'.join(sorted(behind)):<11}  {runs[n][-1]['outcomes']}")
    print(f"medians of {args.rounds} round(s); targets: <= {TARGET_SECONDS} s and <= {TARGET_MB} MB "
          f"above the baseline each, the form behind accepted: {'met' if ok else 'NOT MET'}")


def _peak_mb(pid: int) -> float:
    """The peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


if __name__ == "__main__":
    main()
