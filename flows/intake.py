"""intake: read the safeguarding mailbox, check every health alert form, answer every sender."""

from __future__ import annotations

import time
from collections import Counter

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.hooks import tell_admin_on_failure
from safeguard.domain.status import Outcome
from safeguard.domain.triage import DECIDED_BY_EMAIL
from safeguard.service_layer.intake import IntakeResult
from tasks.approval import start_approval_runs
from tasks.intake import read_and_answer, wait_for_mail


@task(cache_policy=NO_CACHE)
def publish_intake_summary(results: list[IntakeResult], sweep: dict[str, int],
                           approvals: dict[str, int]) -> dict[str, int]:
    """Counts and references only: the artifact is readable by anyone with Prefect access."""
    counts = Counter(r.outcome for r in results)
    summary = {str(outcome): counts.get(outcome, 0) for outcome in Outcome}
    rows = [{"mailbox id": r.mailbox_id, "outcome": str(r.outcome), "reason": r.reason,
             "reference": r.reference or "", "folder": r.folder or "INBOX"} for r in results]
    if rows:
        create_table_artifact(key="intake-last-run", table=rows,
                              description="Messages handled by the last intake run (ids and outcomes only). "
                              f"Totals: {summary}. Unsent email retried: {sweep}. "
                              f"Approval runs: {approvals}.")
    return summary


@flow(name="intake", log_prints=False,
      on_failure=[tell_admin_on_failure])
def intake(config_dir: str | None = None, batch_size: int = 200, watch_seconds: float = 0) -> dict[str, int]:
    """One pass over the mailbox; then, for `watch_seconds`, another pass whenever mail arrives.
    Scheduled every minute with `watch_seconds: 50`, a submission is answered within seconds
    rather than waiting for the next minute."""
    watch_until = time.monotonic() + watch_seconds
    results: list[IntakeResult] = []
    sweep: Counter[str] = Counter()
    approvals: Counter[str] = Counter()
    while True:
        run = read_and_answer(config_dir, batch_size)
        results += run.results
        sweep.update(run.sent)
        approvals.update(start_approval_runs(config_dir, [r.reference for r in run.results
                                                          if r.reason == DECIDED_BY_EMAIL and r.reference]))
        if run.fetched == batch_size:
            continue  # a backlog: keep reading
        remaining = watch_until - time.monotonic()
        if remaining < 1 or not wait_for_mail(config_dir, remaining):
            break
    return publish_intake_summary(results, dict(sweep), dict(approvals))


if __name__ == "__main__":
    intake()
