"""One alert's history export against the size of the audit log, beside a full walk of the chain.

    .venv/bin/python bench/audit_export.py [--sizes 20000 386000] [--rounds 5] [--database-url URL]

For each size: a register with one real alert (received, approved, notices sent, acknowledged) and
that many other audit entries (for other alerts and messages, appended through the real chain code,
v2, with a checkpoint as the nightly run leaves one). Then, median of the rounds:
- export: `export_alert_history` of the real alert (it proves the alert's own entries and the latest
  checkpoint, and finds them by index): the cost should not grow with the log;
- full walk (the baseline, measured in the same run): `verify_full`, which the export used to run.
Target: the export at the largest size within 1.5x of the smallest, and under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.register import audit
from safeguard.adapters.register.audit_check import checkpoint, verify_full
from safeguard.adapters.register.crypto import new_key
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.uow import uow_factory
from safeguard.adapters.returns.alert_history import export_alert_history
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_batch
from testkit import samples

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2016, 1, 4, 9, 0, tzinfo=UTC)
BATCH = 5000

# A benchmark register is thrown away: throwaway keys.
os.environ.setdefault("SAFEGUARD_DATA_KEYS", new_key())
os.environ.setdefault("SAFEGUARD_HASH_KEY", new_key())
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", new_key())


def build(url: str, folder: Path, entries: int) -> tuple[IntakeContext, str]:
    engine = make_engine(url)
    migrate(engine)
    config = load_config(ROOT / "config")
    box = MaildirMailbox(folder / "mail", config.settings.service.mailbox_address, folder / "delivered")
    ctx = IntakeContext(config, box, uow_factory(engine), lambda: START)
    _filler(ctx, entries // 2, 0)
    form = samples.xlsx_form(samples.form_fields(START.date()), samples.subjects(START.date()))
    deliver(box.root, samples.submission("tamsin.holloway@coventry-council.test", config.settings.service.
                                         mailbox_address, attachments=[("form.xlsx", form)]))
    [result] = process_batch(box.list_new(), ctx)
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, result.reference)
    _filler(ctx, entries - entries // 2, entries // 2)
    with ctx.uow() as u:
        checkpoint(u.session, verify_full(u.session), START)
        u.commit()
    return ctx, result.reference


def _filler(ctx: IntakeContext, count: int, first: int) -> None:
    """Other alerts' entries, as years of work leave them: appended through the real chain code."""
    for start in range(first, first + count, BATCH):
        with ctx.uow() as u:
            for n in range(start, min(start + BATCH, first + count)):
                audit.append(u.session, actor="system", action="notice sent", alert_ref=f"HSA-2016-{n:06d}",
                             inbound_id=10_000_000 + n, at=START + timedelta(minutes=n),
                             detail={"provider": "UHCW", "version": 1})
            u.commit()


def timed(action, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(url: str, folder: Path, entries: int, rounds: int) -> dict[str, float]:
    ctx, ref = build(url, folder, entries)

    def export() -> None:
        with ctx.uow() as u:
            export_alert_history(u.session, ctx.config, ref, folder / "history.xlsx", by="bench", now=START)

    def walk() -> None:
        with ctx.uow() as u:
            assert verify_full(u.session).ok

    return {"entries": entries, "export_s": round(timed(export, rounds), 3),
            "full_walk_s": round(timed(walk, max(1, rounds // 2)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 386_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/register.sqlite3"
            results.append(measure(url, Path(tmp), size, args.rounds))
            print(json.dumps(results[-1]), flush=True)
    small, large = results[0], results[-1]
    print(json.dumps({"export_growth": round(large["export_s"] / small["export_s"], 2),
                      "full_walk_growth": round(large["full_walk_s"] / small["full_walk_s"], 2)}))


if __name__ == "__main__":
    main()
