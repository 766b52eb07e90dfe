"""reminders: on working-day mornings, chase, remind and escalate what is due, once each."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.hooks import tell_admin_on_failure
from safeguard.service_layer.wording import counted, listed, spoken
from tasks.overview import publish_alerts_overview
from tasks.reminders import queue_and_send_reminders


@flow(name="reminders", on_failure=[tell_admin_on_failure], log_prints=False)
def reminders(config_dir: str | None = None, now: str | None = None) -> dict[str, object]:
    """`now` (ISO 8601) runs the rules at any instant; empty means the current time."""
    due = queue_and_send_reminders(config_dir, now)
    queued, sent = due.queued, due.sent
    create_table_artifact(
        key="reminders-last-run",
        table=[{"reminder": spoken(kind), "count": len(refs), "references": listed(refs)}
               for kind, refs in queued.items()]
        or [{"reminder": "none due", "count": 0, "references": ""}],
        description=f"Reminders for {due.today:%A %d %B %Y}"
                    + ("" if due.working_day else ": not a working day in England and Wales, so none is sent")
                    + f". Due but already sent by an earlier run: {due.already}. "
                    f"Email sent now: {counted(sent)}.")
    publish_alerts_overview(config_dir)
    return {"today": due.today.isoformat(), "working_day": due.working_day,
            "queued": {kind: len(refs) for kind, refs in queued.items()}, "sent": sent}
