"""alert-approval: one run per alert version, named with its reference, waiting for a decision.

The approver answers the form in the Prefect UI (or `safeguard approve|reject`, which resumes this
run). The decision is recorded in the register, every notice is queued in the same transaction,
the answer is deleted from Prefect, and the notices are sent.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from flows.hooks import form_description, tell_admin_on_failure
from safeguard.bootstrap import open_app
from safeguard.service_layer.wording import notices_table
from tasks.approval import (
    describe_for_approval,
    forget_approval_input,
    record_approval_decision,
    send_notices,
    stop_waiting,
)

APPROVE = "approve"
ALREADY_DECIDED = "already-decided"  # DecisionRefused.code when the register has a decision already


class ApprovalForm(RunInput):
    decision: Literal["approve", "reject"] = Field(description="Approve sends the notices; reject tells the "
                                                   "sender your reason.")
    approver_name: str = Field(min_length=2, description="Your full name: the register records who decided.")
    reason: str = Field(default="", description="Required to reject; the sender is told it. No names or "
                        "case details.")
    leave_out: list[str] = Field(default_factory=list, description="Provider codes to leave out (from the "
                                 "list above). You cannot add a provider.")
    note: str = Field(default="", description="Optional, kept in the register. No names or case details.")


@flow(name="alert-approval", flow_run_name="{reference} v{version}", persist_result=False, log_prints=False,
      on_failure=[tell_admin_on_failure])
def alert_approval(reference: str, version: int = 1, config_dir: str | None = None,
                   poll_seconds: int = 10) -> dict[str, object]:
    run_id = str(flow_run.id)
    form = describe_for_approval(config_dir, reference, version, run_id)
    if form is None:
        return {"reference": reference, "version": version, "outcome": "nothing waiting for a decision"}
    timeout = open_app(config_dir).config.timescales.approval_timeout_days * 86400
    problem = ""
    while True:
        description = form_description(form.markdown, problem)
        try:
            answer = pause_flow_run(wait_for_input=ApprovalForm.with_initial_data(description=description),
                                    timeout=timeout, poll_interval=poll_seconds)
        except FlowPauseTimeout:
            stop_waiting(config_dir, reference, version, run_id)
            return {"reference": reference, "version": version, "outcome": "no decision in time; intake will "
                    "start a new approval run"}
        result = record_approval_decision(config_dir, reference, version, answer.decision == APPROVE,
                                          answer.approver_name, answer.reason, answer.leave_out, answer.note)
        forget_approval_input(run_id)
        if result.recorded or result.code == ALREADY_DECIDED:
            break
        problem = result.message
    sent = send_notices(config_dir, reference)
    outcome = result.decision or "decided elsewhere"
    create_markdown_artifact(
        key=f"approval-{reference.lower()}", description=f"Decision on {reference} version {version}",
        markdown=f"**{reference} version {version}: {outcome}.**\n\n"
                 + notices_table(result.notices, result.not_sent, sent))
    return {"reference": reference, "version": version, "outcome": outcome, "sent": sent}


def resume_waiting_run(run_id: str, decision: str, by: str) -> str:
    """After a decision made on the command line, let the run waiting in Prefect finish (it finds the
    decision already in the register). Returns what happened, in words."""
    from uuid import UUID

    from prefect.exceptions import PrefectException
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(UUID(run_id), run_input={"decision": decision, "approver_name": by, "reason": "",
                                                 "leave_out": [], "note": "decided on the command line"})
    except (PrefectException, RuntimeError, OSError) as exc:
        return f"the approval run in Prefect was not resumed ({type(exc).__name__}); it will end on its own"
    return "the approval run in Prefect has been resumed and will finish"
