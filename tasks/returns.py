"""Tasks of the monthly returns flow: month and file names in, rounded headline numbers out."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from safeguard.bootstrap import open_app, utc_now
from safeguard.service_layer.returns import email_returns, previous_month, produce


@dataclass(frozen=True)
class ReturnsBuilt:
    files: dict[str, str]  # kind -> path on the worker
    fgm: dict[str, int]  # rounded headline numbers, safe to show anywhere
    activity: dict[str, int]
    sent: dict[str, int]  # the outbox afterwards: SendResult -> count


@task(cache_policy=NO_CACHE)
def month_to_report(config_dir: str | None, month: str | None) -> str:
    return month or previous_month(open_app(config_dir).config, utc_now())


@task(cache_policy=NO_CACHE)
def build_returns(config_dir: str | None, month: str) -> ReturnsBuilt:
    with open_app(config_dir).intake_context() as ctx:
        result = produce(ctx, month)
        sent = email_returns(ctx, result)
    return ReturnsBuilt({k: str(v) for k, v in result.files.items()}, result.fgm_headline,
                        result.activity_headline, sent)
