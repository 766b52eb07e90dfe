"""Tasks of the reminders and reconcile flows: counts, check names and references only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.bootstrap import open_app
from safeguard.service_layer.reconcile import nightly_check
from safeguard.service_layer.reminders import parse_instant, remind


@dataclass(frozen=True)
class RemindersSent:
    today: date
    working_day: bool
    queued: dict[str, list[str]]  # kind -> references (or message ids)
    already: int  # due, but queued by an earlier run
    sent: dict[str, int]  # the outbox afterwards: SendResult -> count


@dataclass(frozen=True)
class Reconciled:
    erased: int  # closed alerts whose personal data was erased
    total: int  # discrepancies found
    rows: list[dict[str, object]]  # one per check: check, meaning, count, where (references only)


@task(cache_policy=NO_CACHE)
def queue_and_send_reminders(config_dir: str | None, now: str | None) -> RemindersSent:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        run, sent = remind(ctx, app.calendar, parse_instant(now, app.config.timezone))
    get_run_logger().info("reminders for %s (working day: %s): %s", run.today, run.working_day, run.counts())
    return RemindersSent(run.today, run.working_day, run.queued, run.already, sent)


@task(cache_policy=NO_CACHE)
def erase_and_reconcile(config_dir: str | None) -> Reconciled:
    with open_app(config_dir).intake_context() as ctx:
        check = nightly_check(ctx)
    report = check.report
    get_run_logger().info("retention: personal data erased from %d closed alert(s); reconciliation: %d "
                          "finding(s) %s", check.erased, len(report.findings),
                          {k: v for k, v in report.counts().items() if v})
    return Reconciled(check.erased, len(report.findings), report.rows())
