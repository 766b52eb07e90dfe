"""Costs as the register grows: the daily and nightly jobs against years of history.

    .venv/bin/python bench/history.py [--sizes 1000,5000,20000] [--database-url URL] [--rebuild]

For each size it builds a register through the real code, on a fake clock that starts on Monday
4 January 2016: every week about 38 submissions (2,000 a year) arrive by email, are approved (one in
twenty rejected) and sent to two hospitals, the hospitals acknowledge most of them, and social
workers withdraw three alerts in four by email some weeks later (the team approves). One alert in
ten is about an unborn baby. The rest stay active until the reminders, run once a week, close
them at the end of their life (review date long past with no answer), as on a real site. The build
ends with a reminders run and a reconciliation, as the nights before would have.

Built registers (and their mail folders) are cached under --cache, keyed by size, the schema's
newest migration and the recipe below, so later rounds only time the jobs. A cache built by an
older schema is copied and upgraded with the migrations, as a real site's register would be.

Then each job runs as its own process, on its own copy of the register, at the instant after the
build, and prints its time (measured in the process, after start-up) and peak resident memory:
intake of 100 new submissions, reminders on a day with nothing new, reconcile (the night after a
whole nightly run, as on a site: mail kept 90 days, not ten years), retention erasure
(the first night with work, then the night after), one alert's audit export, the monthly activity
return, and the register's size on disk.

The bench keeps closed alerts' personal data for 90 days (config says 730), so that every size has
erasure to do; the time per alert erased is what must stay flat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SAFEGUARD_DATA_KEYS", "q2dvH8rM7t3JkYwZ5rR1sQ8bD0xN4cP6vF9aL2eU7iE=")
os.environ.setdefault("SAFEGUARD_HASH_KEY", "bench-hash-key-not-for-production")
# fixed, not fresh: a cached register's audit chain must verify in a later run
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", "bench-audit-key-not-for-production")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

RECIPE = 2  # bump when the build below changes: cached registers are then built again
START = datetime(2016, 1, 4, 9, 0, tzinfo=UTC)  # a Monday
PER_WEEK = 38
SW = "tamsin.holloway@coventry-council.test"
INBOX = "safeguarding@example-icb.test"
HOSPITALS = ("safeguarding@uhcw.test", "safeguarding@swft.test")
RETENTION_DAYS = 90
JOBS = ("intake", "reminders", "reconcile", "erasure", "erasure-again", "audit-export", "activity")


# --- the register: built through the real code --------------------------------------------------
def config():
    from safeguard.adapters.config_files import load_config
    from safeguard.domain.config.models import RetentionSettings

    base = load_config(ROOT / "config")
    settings = base.settings.model_copy(update={
        "retention": RetentionSettings(closed_alert_personal_data_days=RETENTION_DAYS)})
    return base.model_copy(update={"settings": settings})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def context(url: str, mail: Path, clock: Clock):
    from safeguard.adapters.mail.maildir import MaildirMailbox
    from safeguard.adapters.register.db import make_engine, migrate
    from safeguard.adapters.register.uow import uow_factory
    from safeguard.service_layer.intake import IntakeContext

    cfg = config()
    engine = make_engine(url)
    migrate(engine)
    box = MaildirMailbox(mail / "safeguarding", cfg.settings.service.mailbox_address, mail / "delivered")
    return IntakeContext(cfg, box, uow_factory(engine), clock)


def submission_raw(day: date, n: int) -> bytes:
    from testkit import samples

    if n % 10 == 3:  # an unborn baby
        fields = samples.form_fields(day, **{"Alert type": "Unborn baby",
                                             "Legal status": "Child protection plan"})
        edd = (day + timedelta(days=60 + n % 90)).strftime("%d/%m/%Y")
        people = [{"Role": "Unborn", "Surname": samples.SUBJECT_SURNAME, "Expected date of delivery": edd},
                  samples.subjects(day)[1]]
    else:
        fields, people = samples.form_fields(day), samples.subjects(day)
    return samples.submission(SW, INBOX, subject="Health alert", body=samples.text_form(fields, people))


def deliver_all(ctx, raws: list[bytes]) -> None:
    from safeguard.adapters.mail.maildir import deliver

    for raw in raws:
        deliver(ctx.mailbox.root, raw)


def intake_all(ctx) -> list:
    from safeguard.service_layer.intake import process_batch
    from safeguard.service_layer.sending import send_unsent

    results, seen = [], set()
    while ids := [i for i in ctx.mailbox.list_new(500) if i not in seen]:
        seen.update(ids)  # a message left for a later pass is not read again in this one
        results += process_batch(ids, ctx)
    send_unsent(ctx)
    return results


def build(url: str, mail: Path, size: int) -> datetime:
    """Weeks of history until `size` alerts exist; returns the instant the jobs run at."""
    from safeguard.domain.calendar import WorkingDays
    from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
    from safeguard.service_layer.dispatch import give_decision, send_alert_email
    from safeguard.service_layer.reconcile import run_reconciliation
    from safeguard.service_layer.reminders import remind
    from safeguard.service_layer.withdrawal import WithdrawalAnswer
    from safeguard.service_layer.withdrawal_dispatch import give_withdrawal_decision
    from testkit import samples

    rng = random.Random(size)
    calendar = WorkingDays()
    clock = Clock(START)
    ctx = context(url, mail, clock)
    made, week, to_withdraw = 0, 0, {}  # week -> references
    started = time.perf_counter()
    while made < size:
        monday = START + timedelta(weeks=week)
        clock.now = monday
        count = min(PER_WEEK, size - made)
        deliver_all(ctx, [submission_raw(monday.date(), made + n) for n in range(count)])
        references = [r.reference for r in intake_all(ctx) if r.reference and r.outcome == "accepted"]
        made += count
        clock.now = monday + timedelta(hours=2)
        for ref in references:
            approve = rng.random() >= 0.05
            give_decision(ctx, ref, 1, ApprovalRequest(approve, "Dana Nightingale",
                                                       None if approve else "Not enough detail"))
            if approve:
                send_alert_email(ctx, ref)
                if rng.random() < 0.75:
                    to_withdraw.setdefault(week + rng.randint(3, 12), []).append(ref)
        clock.now = monday + timedelta(days=1, hours=1)
        acks = [samples.submission(h, INBOX, subject=f"RE: {ref}", body="Received, thank you.\n")
                for ref in references for h in HOSPITALS if rng.random() < 0.9]
        deliver_all(ctx, acks)
        intake_all(ctx)
        clock.now = monday + timedelta(days=1, hours=7)  # Tuesday afternoon: the week's reminders
        remind(ctx, calendar, clock.now)  # catch up on all that fell due; end of life closes old alerts
        clock.now = monday + timedelta(days=3, hours=3)
        due = to_withdraw.pop(week, [])
        deliver_all(ctx, [samples.submission(SW, INBOX, subject=f"WITHDRAW {ref}", body="Reason: Found\n")
                          for ref in due])
        intake_all(ctx)
        clock.now = monday + timedelta(days=3, hours=5)
        for ref in due:
            try:
                give_withdrawal_decision(ctx, ref, WithdrawalAnswer(True, "Dana Nightingale"))
            except DecisionRefused:  # closed at the end of its life first: nothing waits
                continue
            send_alert_email(ctx, ref)
        week += 1
        if week % 26 == 0:
            print(f"    {made} alerts, {clock.now:%Y-%m-%d}, {time.perf_counter() - started:.0f} s",
                  flush=True)
    # the nights before the measured day: every reminder due is queued, and reconcile has run
    clock.now = START + timedelta(weeks=week, days=1, hours=8)  # a Tuesday
    while not calendar.is_working_day(clock.now.date()):
        clock.now += timedelta(days=1)
    remind(ctx, calendar, clock.now)
    clock.now += timedelta(hours=1)
    run_reconciliation(ctx)
    return clock.now + timedelta(hours=1)


# --- cache ------------------------------------------------------------------------------------------
def schema() -> str:
    from safeguard.adapters.register.db import MIGRATIONS, newest_revision

    digest = hashlib.sha256()
    for path in sorted((MIGRATIONS / "versions").glob("[0-9]*_*.py")):
        digest.update(path.read_bytes())
    return f"{newest_revision()}-{digest.hexdigest()[:8]}"


def cache_key(size: int) -> str:
    return f"{size}-r{RECIPE}-{schema()}"


def prepared(args: argparse.Namespace, size: int) -> Path:
    """The cached register for this size (built, or upgraded from an older schema's, if need be)."""
    root = args.cache / cache_key(size)
    if (root / "meta.json").exists() and not args.rebuild:
        return root
    older = sorted(p for p in args.cache.glob(f"{size}-r{RECIPE}-*") if (p / "meta.json").exists()
                   and p != root and _same_backend(p, args))
    subprocess.run(["rm", "-rf", str(root)], check=True)  # what an interrupted build left
    root.mkdir(parents=True)
    started = time.perf_counter()
    if older and not args.rebuild:
        print(f"  upgrading the cached register {older[-1].name} to this schema", flush=True)
        meta = json.loads((older[-1] / "meta.json").read_text())
        _copy(older[-1], meta, root, args)
        _drop_copy(meta)
        url = register_url(root, meta, args)
        context(url, root / "mail", Clock(datetime.fromisoformat(meta["now"])))  # migrates
        meta.update(built_seconds=round(time.perf_counter() - started), upgraded_from=older[-1].name)
    else:
        print(f"  building a register of {size} alerts (cached afterwards)", flush=True)
        meta = {"size": size, "database": None if args.database_url is None else _pg_name(root)}
        url = register_url(root, meta, args, fresh=True)
        now = build(url, root / "mail", size)
        meta.update(now=now.isoformat(), built_seconds=round(time.perf_counter() - started))
    if meta.get("database") is not None:  # statistics, as autovacuum keeps them on a site's server
        # (this machine's runs with autovacuum off); the jobs' copies, made from it as a template, keep them
        _pg(register_url(root, meta, args), "ANALYZE")
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def _same_backend(path: Path, args: argparse.Namespace) -> bool:
    meta = json.loads((path / "meta.json").read_text())
    return (meta.get("database") is None) == (args.database_url is None)


def _pg_name(root: Path) -> str:
    return "bench_history_" + hashlib.sha256(str(root).encode()).hexdigest()[:12]


def register_url(root: Path, meta: dict, args: argparse.Namespace, *, fresh: bool = False) -> str:
    if meta.get("database") is None:
        return f"sqlite:///{root / 'register.sqlite3'}"
    if fresh:
        _pg(args.database_url, f'DROP DATABASE IF EXISTS "{meta["database"]}" WITH (FORCE)',
            f'CREATE DATABASE "{meta["database"]}"')
    return args.database_url.rsplit("/", 1)[0] + f"/{meta['database']}"


def _pg(admin_url: str, *statements: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def _copy(source: Path, meta: dict, target: Path, args: argparse.Namespace) -> str:
    """A copy of a cached register and its mail for one job: hard links for mail (Maildir never
    changes a file, it only renames), a file copy or a template database for the register."""
    subprocess.run(["cp", "-al", str(source / "mail"), str(target / "mail")], check=True)
    if meta.get("database") is None:
        for suffix in ("", "-wal", "-shm"):
            if (source / f"register.sqlite3{suffix}").exists():
                shutil.copy2(source / f"register.sqlite3{suffix}", target / f"register.sqlite3{suffix}")
        return f"sqlite:///{target / 'register.sqlite3'}"
    name = _pg_name(target)
    _pg(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        # a template must have no sessions: the build's own connections are done with it
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{meta['database']}' "
        "AND pid <> pg_backend_pid()",
        f'CREATE DATABASE "{name}" TEMPLATE "{meta["database"]}"')
    meta["copy"] = name
    return args.database_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_copy(meta: dict) -> None:
    """Upgrading keeps the copy as the new cache entry: it is no longer a throw-away copy."""
    if "copy" in meta:
        meta["database"] = meta.pop("copy")


# --- the jobs, each in its own process -------------------------------------------------------------
def run_job(job: str, url: str, mail: Path, now: datetime) -> dict:
    clock = Clock(now)
    ctx = context(url, mail, clock)
    extra: dict = {}
    if job == "intake":
        deliver_all(ctx, [submission_raw(now.date(), n) for n in range(100)])
        started = (time.perf_counter(), cpu_seconds())
        results = intake_all(ctx)
        extra = {"messages": len(results)}
    elif job == "reminders":
        from safeguard.domain.calendar import WorkingDays
        from safeguard.service_layer.reminders import remind

        # the morning's run first (a register upgraded from an older schema meets rules new to it
        # here); then the one timed, later the same day: nothing new
        remind(ctx, WorkingDays(), now)
        clock.now = now = now + timedelta(minutes=30)
        started = (time.perf_counter(), cpu_seconds())
        run, _sent = remind(ctx, WorkingDays(), now)
        extra = {"queued": sum(run.counts().values())}
    elif job == "reconcile":
        from safeguard.service_layer.reconcile import nightly_check, run_reconciliation

        # The night before, as a site runs every night: retention (mail past retention.mail_days
        # deleted: the build never ran it, so ten years of Sent were still there; closed alerts
        # erased), then reconcile. Untimed, and its peak memory forgotten.
        nightly_check(ctx)
        forget_peak()
        clock.now = now + timedelta(days=1)
        started = (time.perf_counter(), cpu_seconds())
        report = run_reconciliation(ctx)
        extra = {"findings": len(report.findings)}
    elif job in ("erasure", "erasure-again"):
        from safeguard.service_layer.retention import erase_all_expired

        if job == "erasure-again":
            erase_all_expired(ctx.uow, ctx.config, now)
            clock.now = now = now + timedelta(days=1)
        started = (time.perf_counter(), cpu_seconds())
        erased = erase_all_expired(ctx.uow, ctx.config, now)  # as the nightly run does
        extra = {"erased": len(erased)}
    elif job == "audit-export":
        from sqlalchemy import func, select

        from safeguard.adapters.register.orm import Alert
        from safeguard.adapters.returns.alert_history import export_alert_history

        with ctx.uow() as u:
            last = (u.session.scalar(select(func.max(Alert.id)).where(Alert.status == "WITHDRAWN"))
                    or u.session.scalar(select(func.max(Alert.id))))
            reference = u.session.scalar(select(Alert.reference).where(Alert.id == last))
        out = Path(tempfile.mkdtemp()) / "history.xlsx"
        started = (time.perf_counter(), cpu_seconds())
        with ctx.uow() as u:
            export_alert_history(u.session, ctx.config, reference, out, by="bench", now=now)
        finished = (time.perf_counter(), cpu_seconds())  # the export alone; the walk below is apart
        extra = {"chain_walk": _chain_walk(ctx)}
    elif job == "activity":
        from safeguard.service_layer.returns import previous_month, produce

        started = (time.perf_counter(), cpu_seconds())
        produce(ctx, previous_month(ctx.config, now), which=("activity",), out_dir=Path(tempfile.mkdtemp()))
    else:
        raise SystemExit(f"unknown job {job}")
    if job != "audit-export":
        finished = (time.perf_counter(), cpu_seconds())
    return {"seconds": finished[0] - started[0], "cpu": finished[1] - started[1], "peak_mb": peak_mb(),
            **extra}


def _chain_walk(ctx) -> float:
    """A full walk of the audit chain, timed after the export: what the export's integrity sheet cost
    before it proved the alert's entries from the chain's stored checkpoints instead."""
    from safeguard.adapters.register.audit import verify_session

    started = time.perf_counter()
    with ctx.uow() as u:
        verify_session(u.session)  # full
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """User and system CPU of this process: on a shared machine, a steadier measure than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def forget_peak() -> None:
    """Start VmHWM again from the current resident memory (Linux: clear_refs 5), so that a job's peak
    is its own, not that of the preparation before it in the same process."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM starts again at exec; a child's ru_maxrss would
    carry the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(args: argparse.Namespace, root: Path, job: str) -> dict:
    meta = json.loads((root / "meta.json").read_text())
    work = Path(tempfile.mkdtemp(prefix=f"history-{job}-"))
    try:
        url = _copy(root, meta, work, args)
        command = [sys.executable, __file__, "--job", job, "--register", url, "--mail", str(work / "mail"),
                   "--now", meta["now"]]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"job {job} failed")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if "copy" in meta:
            _pg(args.database_url, f'DROP DATABASE IF EXISTS "{meta["copy"]}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def median_round(rounds: list[dict]) -> dict:
    """The round with the median wall time, and every round's wall time beside it."""
    ordered = sorted(rounds, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds": [round(r["seconds"], 3) for r in rounds]}


def register_mb(args: argparse.Namespace, root: Path) -> float:
    meta = json.loads((root / "meta.json").read_text())
    if meta.get("database") is None:
        return sum(p.stat().st_size for p in root.glob("register.sqlite3*")) / 1e6
    from sqlalchemy import create_engine, text

    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(:n)"), {"n": meta["database"]}).scalar()
    engine.dispose()
    return size / 1e6


def report(rows: dict[int, dict[str, dict]], sizes: dict[int, float], backend: str) -> None:
    print(f"\n{backend}")
    header = "| job | " + " | ".join(f"{s:,} alerts" for s in rows) + " |"
    print(header)
    print("|---" * (len(rows) + 1) + "|")
    for job in JOBS:
        cells = []
        for results in rows.values():
            r = results.get(job)
            if r is None:
                cells.append("-")
                continue
            seconds = r["seconds"]
            cpu = f" (CPU {r['cpu']:.2f} s)" if "cpu" in r else ""
            if job == "audit-export" and "chain_walk" in r:
                cells.append(f"{seconds:.2f} s{cpu}, {r['peak_mb']:.0f} MB (a full walk of the chain, "
                             f"which it no longer does: {r['chain_walk']:.2f} s)")
            elif job == "intake":
                per = 1000 / max(r["messages"], 1)
                cells.append(f"{seconds * per:.1f} ms/msg (CPU {r.get('cpu', 0) * per:.1f}), "
                             f"{r['peak_mb']:.0f} MB")
            elif job.startswith("erasure"):
                per = f" ({seconds / r['erased'] * 1000:.2f} ms/alert)" if r["erased"] else ""
                cells.append(f"{seconds:.2f} s{cpu} for {r['erased']}{per}, {r['peak_mb']:.0f} MB")
            else:
                cells.append(f"{seconds:.2f} s{cpu}, {r['peak_mb']:.0f} MB")
        print(f"| {job} | " + " | ".join(cells) + " |")
    print("| register size | " + " | ".join(f"{sizes[s]:.0f} MB" for s in rows) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,20000", help="alert counts, comma-separated")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server's admin URL (databases are created on it); default SQLite")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "XDG_CACHE_HOME", Path.home() / ".cache")) / "safeguard-bench" / "history")
    parser.add_argument("--rebuild", action="store_true", help="build the registers again")
    parser.add_argument("--jobs", default=",".join(JOBS), help="which jobs to time")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each job, each on a fresh copy; the median by wall time is reported")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--register", help=argparse.SUPPRESS)
    parser.add_argument("--mail", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:  # one job, in this process, as the parent asked
        print(json.dumps(run_job(args.job, args.register, args.mail, datetime.fromisoformat(args.now))))
        return
    if args.database_url is not None:
        args.cache = args.cache / "postgresql"
    rows: dict[int, dict[str, dict]] = {}
    sizes: dict[int, float] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size} alerts", flush=True)
        root = prepared(args, size)
        rows[size] = {}
        for job in args.jobs.split(","):
            rounds = []
            for _ in range(args.rounds):
                rounds.append(measure(args, root, job))
                print(f"  {job}: {json.dumps(rounds[-1])}", flush=True)
            rows[size][job] = median_round(rounds)
        sizes[size] = register_mb(args, root)
    report(rows, sizes, "PostgreSQL" if args.database_url else "SQLite")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
