"""intake: read the safeguarding mailbox, check every health alert form, answer every sender."""

from __future__ import annotations

import time
from collections import Counter

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.hooks import tell_admin_on_failure
from safeguard.domain.status import Outcome
from safeguard.domain.triage import DECIDED_BY_EMAIL
from safeguard.service_layer.intake import IntakeResult
from safeguard.service_layer.watching import Wake
from safeguard.service_layer.wording import counted, spoken
from tasks.approval import start_approval_runs
from tasks.intake import hand_over, read_and_answer, take_over_watching, wait_for_mail, watcher_heartbeat
from tasks.overview import publish_alerts_overview

OVERVIEW_EVERY_SECONDS = 60  # a watcher that is not replaced still refreshes the dashboard
OUTCOME_WORDS = {Outcome.ACCEPTED: "accepted: a new alert or version waits for approval",
                 Outcome.INVALID: "invalid: the sender was told every problem",
                 Outcome.RECORDED: "recorded: a reply, command or acknowledgement",
                 Outcome.QUARANTINED: "quarantined: a person must look at it",
                 Outcome.DUPLICATE: "a copy of a message already handled",
                 Outcome.DEFERRED: "left in the inbox for the next pass",
                 Outcome.GONE: "already taken by another run",
                 Outcome.OWN_COPY: "the mailbox's own copy of an email it sent: kept in Sent"}


class ApprovalStarts:
    """Approval runs started beside the reading, so that no reply waits while Prefect creates a run:
    one start at a time, and one more after it whenever mail was handled meanwhile. The runs of alerts
    decided by email meanwhile are ended by the same task."""

    def __init__(self, config_dir: str | None) -> None:
        self.config_dir, self.waiting, self.future, self.counts = config_dir, True, None, Counter()
        self.decided: list[str] = []

    def start_if_needed(self, wanted: bool, decided_by_email: list[str]) -> None:
        self.waiting = self.waiting or wanted
        self.decided += decided_by_email
        if self.waiting and (self.future is None or self.future.wrapped_future.done()):
            self._collect()
            self.future = start_approval_runs.submit(self.config_dir, self.decided)
            self.waiting, self.decided = False, []

    def _collect(self) -> None:
        if self.future is not None:
            self.counts.update(self.future.result())
            self.future = None

    def finish(self) -> dict[str, int]:
        self._collect()
        if self.waiting:
            self.counts.update(start_approval_runs(self.config_dir, self.decided))
        return dict(self.counts)


@task(cache_policy=NO_CACHE)
def publish_intake_summary(results: list[IntakeResult], sweep: dict[str, int],
                           approvals: dict[str, int]) -> dict[str, int]:
    """Counts and references only: the artifact is readable by anyone with Prefect access."""
    counts = Counter(r.outcome for r in results)
    summary = {str(outcome): counts.get(outcome, 0) for outcome in Outcome}
    rows = [{"message": r.mailbox_id, "what happened": OUTCOME_WORDS[r.outcome], "why": spoken(r.reason),
             "alert": r.reference or "", "filed in": r.folder or "INBOX"} for r in results]
    if rows:
        create_table_artifact(key="intake-last-run", table=rows, description=(
            f"This intake run handled {len(rows)} message{'s' if len(rows) != 1 else ''}: "
            f"{counted({str(k): v for k, v in summary.items()})}. Email sent from the outbox: "
            f"{counted(sweep)}. Approval runs started: {approvals.get('started', 0)}"
            + (f"; {approvals['no deployment']} alert(s) wait for approval but the approval deployment is "
               "not registered (decide with 'safeguard approve')" if approvals.get("no deployment") else "")
            + ". Ids, outcomes and references only."))
    return summary


@flow(name="intake", log_prints=False,
      on_failure=[tell_admin_on_failure])
def intake(config_dir: str | None = None, batch_size: int = 200, watch_seconds: float = 0) -> dict[str, int]:
    """One pass over the mailbox. With `watch_seconds` the run is the mailbox watcher (prefect.yaml
    starts one every minute): it takes over from the run before without a gap, answers mail as it
    arrives (IMAP IDLE, or polling every mailbox.poll_seconds), and hands over to the next run;
    `watch_seconds` is only the longest it watches if no run comes after it."""
    run_id = str(flow_run.id)
    watching = watch_seconds > 0 and take_over_watching(config_dir, run_id, watch_seconds)
    if watch_seconds > 0 and not watching:
        return {"watching": 0}  # a newer run is next in line: nothing for this one to do
    watch_until = time.monotonic() + watch_seconds
    results: list[IntakeResult] = []
    sweep: Counter[str] = Counter()
    approvals = ApprovalStarts(config_dir)
    published = time.monotonic()
    try:
        with watcher_heartbeat(config_dir, run_id, watching):
            while True:
                run = read_and_answer(config_dir, batch_size)
                results += run.results
                sweep.update(run.sent)
                approvals.start_if_needed(wanted=bool(run.results), decided_by_email=[
                    r.reference for r in run.results if r.reason == DECIDED_BY_EMAIL and r.reference])
                if time.monotonic() - published > OVERVIEW_EVERY_SECONDS:
                    publish_alerts_overview(config_dir)
                    published = time.monotonic()
                if run.fetched == batch_size:
                    continue  # a backlog: keep reading
                remaining = watch_until - time.monotonic()
                if not watching or remaining <= 0:
                    break
                # while a start waits its turn, look again within a second, so that it is not left waiting
                if wait_for_mail(config_dir, run_id, min(remaining, 1) if approvals.waiting else remaining) \
                        == Wake.HAND_OVER:
                    break
    finally:
        if watching:
            hand_over(config_dir, run_id)
    started = approvals.finish()
    publish_alerts_overview(config_dir)
    return publish_intake_summary(results, dict(sweep), started)


if __name__ == "__main__":
    intake()
