"""`safeguard prefect setup` on a real Prefect server: the lost-host automation is created once,
brought up to date on a second run (never a second copy), and says what the docs say it does."""

from __future__ import annotations

import pytest

from cli.prefect_setup import LOST_AFTER, NAME, set_up

pytestmark = pytest.mark.prefect


def test_setting_up_twice_leaves_one_automation_that_crashes_runs_whose_heartbeats_stop(
        prefect_server: str) -> None:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client

    assert set_up() == f"Created the automation '{NAME}'."
    assert set_up() == f"The automation '{NAME}' is up to date."
    with get_client(sync_client=True) as client:
        ours = [a for a in client.read_automations() if a.name == NAME]
    assert len(ours) == 1
    automation = Automation.read(name=NAME)
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and trigger.within == LOST_AFTER  # type: ignore[union-attr]
    assert trigger.after == {"prefect.flow-run.heartbeat"}  # type: ignore[union-attr]
    assert "prefect.flow-run.Completed" in trigger.expect  # type: ignore[union-attr]
    [action] = automation.actions
    assert action.type == "change-flow-run-state" and action.state == "CRASHED"  # type: ignore[union-attr]
