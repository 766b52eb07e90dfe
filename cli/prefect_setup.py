"""`safeguard prefect setup`: what the site's Prefect server needs beside the deployments.

A host that dies (a container killed, a machine lost) cannot tell Prefect its runs ended: they would
show "Running" for ever. Every run started by a worker sends a heartbeat event every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (prefect.yaml sets 30 for the pools); this automation
marks a run Crashed when its heartbeats stop for LOST_AFTER without the run ending, so the admin
team sees which runs a lost host took with it. Nothing is lost by then either way: unanswered mail
stays in INBOX and the surviving hosts take over the outbox and the watcher (docs/containers.md).
"""

from __future__ import annotations

from datetime import timedelta

NAME = "safeguard: mark runs of a lost host crashed"
LOST_AFTER = timedelta(seconds=90)  # three missed heartbeats at 30 s


def lost_run_automation() -> object:
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=NAME,
        description="A run whose heartbeats stopped without it ending: its host or container was lost.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed", "prefect.flow-run.Suspended",
                    "prefect.flow-run.Paused"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=LOST_AFTER,
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"No heartbeat for {int(LOST_AFTER.total_seconds())} seconds: the host or container "
                    "running it was lost. Its work is taken over by the other hosts.")],
    )


def set_up() -> str:
    """Create the automation, or bring it up to date; returns what was done, in a sentence."""
    from prefect.automations import Automation

    wanted = lost_run_automation()
    try:
        existing = Automation.read(name=NAME)
    except ValueError:
        wanted.create()  # type: ignore[attr-defined]
        return f"Created the automation '{NAME}'."
    wanted.id = existing.id  # type: ignore[attr-defined]
    wanted.update()  # type: ignore[attr-defined]
    return f"The automation '{NAME}' is up to date."
