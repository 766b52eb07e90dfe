"""Tasks of the monthly returns flow: month and file names in, rounded headline numbers out."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from safeguard.app import open_app, utc_now
from safeguard.service.returns import email_returns, previous_month, produce


@task(cache_policy=NO_CACHE)
def month_to_report(config_dir: str | None, month: str | None) -> str:
    return month or previous_month(utc_now(), open_app(config_dir).config.settings.service.timezone)


@task(cache_policy=NO_CACHE)
def build_returns(config_dir: str | None, month: str) -> dict[str, object]:
    with open_app(config_dir).intake_context() as ctx:
        result = produce(ctx, month)
        sent = email_returns(ctx, result)
    return {"files": {k: str(v) for k, v in result.files.items()}, "fgm": result.fgm_headline,
            "activity": result.activity_headline, "sent": sent}
