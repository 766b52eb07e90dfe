"""Tasks of the intake flow. They receive and return ids, outcomes and counts only: no message
content or personal data ever becomes a Prefect parameter, result or log line."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.adapters.mail.port import MailboxError
from safeguard.bootstrap import open_app, open_intake_context, utc_now
from safeguard.service_layer.intake_pool import IntakePass, intake_pass
from safeguard.service_layer.sending import send_unsent
from safeguard.service_layer.watching import Wake, keep_alive, let_go, take_over, wait_for_mail_or_successor


def _is_temporary(task, task_run, state) -> bool:  # Prefect's retry_condition_fn signature
    try:
        state.result()
    except MailboxError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001
        return True
    return False


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=_is_temporary, cache_policy=NO_CACHE)
def read_and_answer(config_dir: str | None, batch: int) -> IntakePass:
    """One pass (service.intake_pool.intake_pass): each message on its own, so one that cannot be
    finished now stays in INBOX for the next run; a pass tried again after a temporary fault takes
    only what is still in INBOX."""
    logger = get_run_logger()
    workers = open_app(config_dir).config.settings.limits.intake_workers
    run = intake_pass(partial(open_intake_context, config_dir), batch, workers)
    for r in run.results:
        logger.info("message %s: %s (%s) %s", r.mailbox_id, r.outcome, r.reason, r.reference or "")
    return run


@task(cache_policy=NO_CACHE)
def take_over_watching(config_dir: str | None, run_id: str, patience: float) -> bool:
    """Become the mailbox watcher (service_layer.watching): True once the run before has handed over,
    False if a newer run is next in line."""
    with open_app(config_dir).intake_context() as ctx:
        taken = take_over(ctx, run_id, patience)
    if taken is not None and taken.replaced:
        get_run_logger().warning("the watcher before (run %s) stopped without handing over; the admin team "
                                 "has been told", taken.replaced)
    return taken is not None


def watcher_heartbeat(config_dir: str | None, run_id: str, watching: bool) -> AbstractContextManager[object]:
    """While the flow runs as the watcher, say every failover.heartbeat_seconds that it is alive
    (not a task: a thread of the flow's process, which dies with it)."""
    if not watching:
        return nullcontext()
    app = open_app(config_dir)
    return keep_alive(app.uow, utc_now, run_id, app.config.settings.failover.heartbeat_seconds)


@task(retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=_is_temporary, cache_policy=NO_CACHE)
def wait_for_mail(config_dir: str | None, run_id: str, seconds: float) -> Wake:
    """Block until mail is waiting in the inbox, a newer run takes over, or `seconds` pass."""
    with open_app(config_dir).intake_context() as ctx:
        return wait_for_mail_or_successor(ctx, run_id, seconds)


@task(cache_policy=NO_CACHE)
def hand_over(config_dir: str | None, run_id: str) -> None:
    with open_app(config_dir).intake_context() as ctx:
        let_go(ctx, run_id)


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def send_unsent_email(config_dir: str | None) -> dict[str, int]:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return send_unsent(ctx)
