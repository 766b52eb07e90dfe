"""reinstate: make a withdrawn alert active again, from the Prefect UI ("Run" on the reinstate
deployment, with the alert's reference as the only parameter).

The run waits suspended, holding no process, for a form (reinstate, your name chosen from the
listed approvers, a reason); the answer is recorded in the register,
each provider told of the withdrawal gets a "withdrawal cancelled: flag again" notice queued in the
same transaction, the answer is deleted from Prefect, and the notices are sent. An alert that is
not withdrawn is refused in plain English without pausing. `safeguard reinstate` does the same.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from flows.alert_approval import LOST
from flows.hooks import form_description, tell_admin_on_failure
from flows.waiting import approver_field, first_wait, form_model, wait_for_answer
from safeguard.bootstrap import open_app
from safeguard.service_layer.wording import notices_table
from tasks.approval import forget_approval_input, send_notices
from tasks.withdrawal import describe_reinstatement, record_reinstatement

NOT_WITHDRAWN = "not-withdrawn"  # DecisionRefused.code for an alert that is not withdrawn


def reinstate_form(approvers: list[str]) -> type[RunInput]:
    return form_model(
        "ReinstateForm", RunInput,
        reinstate=(bool, Field(description="Tick to reinstate the alert and tell the providers to flag it "
                               "again. Leave unticked to change nothing.")),
        reinstated_by=approver_field(approvers, "the register records who reinstated the alert."),
        reason=(str, Field(default="", max_length=2000, description="Why it is reinstated: kept in the "
                           "register. No names or case details.")),
    )


@flow(name="reinstate", flow_run_name="{reference} reinstate", persist_result=False, log_prints=False,
      on_failure=[tell_admin_on_failure])
def reinstate(reference: str, config_dir: str | None = None, poll_seconds: int = 5) -> dict[str, object]:
    """Waits suspended, holding no process (flows/waiting.py); poll_seconds is no longer used."""
    reference = reference.strip().upper()[:30]
    run_id = str(flow_run.id)
    ok, text = describe_reinstatement(config_dir, reference)
    if not ok:
        return _finish(reference, f"Not reinstated: {text}")
    model = reinstate_form([a.name for a in open_app(config_dir).config.settings.service.approvers])
    number, problem = first_wait(), ""
    while True:
        answer: Any = wait_for_answer(model, form_description(text, problem), number)
        number += 1
        if answer is None:
            problem = LOST
            continue
        if not answer.reinstate:
            forget_approval_input(run_id)
            return _finish(reference, "Not reinstated: the form was sent without the reinstate box ticked. "
                           "Nothing was changed.")
        result = record_reinstatement(config_dir, reference, answer.reinstated_by, answer.reason)
        forget_approval_input(run_id)
        if result.recorded:
            break
        if result.code == NOT_WITHDRAWN:
            return _finish(reference, f"Not reinstated: {result.message}")
        problem = result.message
    sent = send_notices(config_dir, reference)
    return _finish(reference, f"{reference} reinstated.", reinstated=True,
                   details=notices_table(result.notices, result.not_sent, sent))


def _finish(reference: str, words: str, reinstated: bool = False, details: str = "") -> dict[str, object]:
    """What happened, in words, as an artifact and the run's result (references and codes only)."""
    if not reinstated:
        get_run_logger().warning(words)
    create_markdown_artifact(key="reinstate-" + re.sub(r"[^a-z0-9-]", "-", reference.lower()),
                             description=f"Reinstating {reference}",
                             markdown=f"**{words}**" + (f"\n\n{details}" if details else ""))
    return {"reference": reference, "reinstated": reinstated, "outcome": words}
