"""Tasks of the intake flow. They receive and return ids, outcomes and counts only: no message
content or personal data ever becomes a Prefect parameter, result or log line."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.app import open_app, open_intake_context
from safeguard.mail.port import MailboxError
from safeguard.service.intake import send_unsent
from safeguard.service.intake_pool import process_in_parallel


def _is_temporary(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
    try:
        state.result()
    except MailboxError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001
        return True
    return False


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=_is_temporary, cache_policy=NO_CACHE)
def fetch_new_messages(config_dir: str | None, limit: int) -> list[str]:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return ctx.mailbox.list_new(limit)


@task(retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=_is_temporary, cache_policy=NO_CACHE)
def wait_for_mail(config_dir: str | None, seconds: float) -> bool:
    """Block until mail is waiting in the inbox (True) or `seconds` pass (False)."""
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return ctx.mailbox.wait_for_mail(seconds, app.config.settings.mailbox.poll_seconds)


@task(cache_policy=NO_CACHE)
def process_messages(config_dir: str | None, mailbox_ids: list[str]) -> list[dict[str, object]]:
    """Each message on its own: one that cannot be finished now stays in INBOX for the next run."""
    logger = get_run_logger()
    workers = open_app(config_dir).config.settings.limits.intake_workers
    results = process_in_parallel(mailbox_ids, partial(open_intake_context, config_dir), workers)
    for r in results:
        logger.info("message %s: %s (%s) %s", r.mailbox_id, r.outcome, r.reason, r.reference or "")
    return [asdict(r) for r in results]


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
def send_unsent_email(config_dir: str | None) -> dict[str, int]:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return send_unsent(ctx)


@task(cache_policy=NO_CACHE)
def import_dropped_fgm_files(config_dir: str | None) -> dict[str, int]:
    from safeguard.app import utc_now
    from safeguard.service.fgm_intake import import_drop_folder
    app = open_app(config_dir)
    return import_drop_folder(app.uow, app.config, utc_now())
