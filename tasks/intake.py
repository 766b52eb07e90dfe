"""Tasks of the intake flow. They receive and return ids, outcomes and counts only: no message
content or personal data ever becomes a Prefect parameter, result or log line."""

from __future__ import annotations

from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.adapters.mail.port import MailboxError
from safeguard.bootstrap import open_app, open_intake_context
from safeguard.service_layer.intake_pool import IntakePass, intake_pass
from safeguard.service_layer.sending import send_unsent


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


@task(retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=_is_temporary, cache_policy=NO_CACHE)
def wait_for_mail(config_dir: str | None, seconds: float) -> bool:
    """Block until mail is waiting in the inbox (True) or `seconds` pass (False)."""
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return ctx.mailbox.wait_for_mail(seconds, app.config.settings.mailbox.poll_seconds)


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def send_unsent_email(config_dir: str | None) -> dict[str, int]:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return send_unsent(ctx)
