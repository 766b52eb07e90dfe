"""approval-escalation: every 5 minutes, email the approvers (then the Designated Nurse) about each
alert waiting for approval longer than its limit; each email once. References and counts only."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.hooks import tell_admin_on_failure
from safeguard.bootstrap import open_app
from safeguard.service_layer.escalation import Escalated, escalate_overdue
from safeguard.service_layer.reminders import parse_instant


@task(cache_policy=NO_CACHE)
def escalate(config_dir: str | None, now: str | None) -> Escalated:
    app = open_app(config_dir)
    with app.intake_context() as ctx:
        return escalate_overdue(ctx, parse_instant(now, app.config.timezone))


@flow(name="approval-escalation", on_failure=[tell_admin_on_failure], log_prints=False)
def approval_escalation(config_dir: str | None = None, now: str | None = None) -> dict[str, object]:
    """`now` (ISO 8601) checks at any instant; empty means the current time."""
    done = escalate(config_dir, now)
    told = {audience: len(refs) for audience, refs in done.queued.items()}
    get_run_logger().info("%d alert(s) waiting for approval; overdue emails now: %s", done.waiting, told)
    if done.queued:
        lines = [f"- the {audience} about {', '.join(refs)}" for audience, refs in done.queued.items()]
        create_markdown_artifact(key="approval-escalation", description="Overdue approvals escalated",
                                 markdown=f"**{done.waiting} alert(s) wait for approval.** Emailed now, as "
                                          "they waited longer than the limit:\n\n" + "\n".join(lines))
    return {"waiting": done.waiting, "escalated": told}
