"""intake: read the safeguarding mailbox, check every health alert form, answer every sender."""

from __future__ import annotations

from collections import Counter

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.hooks import tell_admin_on_failure
from tasks.approval import start_approval_runs
from tasks.intake import fetch_new_messages, import_dropped_fgm_files, process_messages, send_unsent_email

OUTCOMES = ("accepted", "invalid", "recorded", "quarantined", "duplicate", "deferred", "gone")


@task(cache_policy=NO_CACHE)
def publish_intake_summary(results: list[dict[str, object]], sweep: dict[str, int],
                           approvals: dict[str, int]) -> dict[str, int]:
    """Counts and references only: the artifact is readable by anyone with Prefect access."""
    counts = Counter(str(r["outcome"]) for r in results)
    summary = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    rows = [{"mailbox id": r["mailbox_id"], "outcome": r["outcome"], "reason": r["reason"],
             "reference": r["reference"] or "", "folder": r["folder"] or "INBOX"} for r in results]
    if rows:
        create_table_artifact(key="intake-last-run", table=rows,
                              description="Messages handled by the last intake run (ids and outcomes only). "
                              f"Totals: {summary}. Unsent email retried: {sweep}. Approval runs: {approvals}.")
    return summary


@flow(name="intake", log_prints=False,
      on_failure=[tell_admin_on_failure])
def intake(config_dir: str | None = None, batch_size: int = 200) -> dict[str, int]:
    mailbox_ids = fetch_new_messages(config_dir, batch_size)
    results = process_messages(config_dir, mailbox_ids) if mailbox_ids else []
    import_dropped_fgm_files(config_dir)
    sweep = send_unsent_email(config_dir)
    approvals = start_approval_runs(config_dir)
    return publish_intake_summary(results, sweep, approvals)


if __name__ == "__main__":
    intake()
