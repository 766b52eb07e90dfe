"""Prefect state hooks shared by every flow."""

from __future__ import annotations

import logging

from safeguard.bootstrap import open_app
from safeguard.service_layer.failures import report_failed_run

NEEDS_ATTENTION = "Needs attention"  # a failed state whose run already told the admin team itself
log = logging.getLogger(__name__)


def tell_admin_on_failure(flow, flow_run, state) -> None:  # Prefect's hook signature
    """Email the admin team the flow, the run's name and a link; never the error text."""
    if state.name == NEEDS_ATTENTION:
        return
    try:
        with open_app(flow_run.parameters.get("config_dir")).intake_context() as ctx:
            report_failed_run(ctx, flow.name, flow_run.name, str(flow_run.id))
    except Exception as exc:  # noqa: BLE001 - a hook must not hide the original failure
        log.warning("could not email the admin team about failed run %s (%s)", flow_run.id,
                    type(exc).__name__)


def form_description(text: str, problem: str) -> str:
    """A pause form's text, with why the approver's last answer was not recorded, if it was not."""
    return text + (f"\n\n**Your last answer was not recorded:** {problem}" if problem else "")
