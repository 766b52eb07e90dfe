"""Tasks of the reminders and reconcile flows: counts, check names and references only."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.app import open_app, utc_now
from safeguard.service.reconcile import run_reconciliation
from safeguard.service.reminders import parse_instant, run_reminders


@task(cache_policy=NO_CACHE)
def queue_due_reminders(config_dir: str | None, now: str | None) -> dict[str, object]:
    app = open_app(config_dir)
    run = run_reminders(app.uow, app.config, app.calendar, parse_instant(now, app.config.settings.service.timezone))
    get_run_logger().info("reminders for %s (working day: %s): %s", run.today, run.working_day, run.counts())
    return {"today": run.today.isoformat(), "working_day": run.working_day, "queued": run.queued,
            "already": run.already}


@task(cache_policy=NO_CACHE)
def reconcile_register(config_dir: str | None) -> dict[str, object]:
    with open_app(config_dir).intake_context() as ctx:
        report = run_reconciliation(ctx)
    get_run_logger().info("reconciliation: %d finding(s) %s", len(report.findings),
                          {k: v for k, v in report.counts().items() if v})
    return {"rows": report.rows(), "total": len(report.findings)}


@task(cache_policy=NO_CACHE)
def erase_expired_personal_data(config_dir: str | None) -> int:
    from safeguard.service.retention import erase_expired
    app = open_app(config_dir)
    with app.uow() as u:
        erased = erase_expired(u, app.config, utc_now())
        u.commit()
    get_run_logger().info("retention: personal data erased from %d closed alert(s)", len(erased))
    return len(erased)
