"""withdrawal-decision: one run per WITHDRAW waiting for the safeguarding team, named with its
reference, started by intake (service.withdrawal_needs_approval).

The form shows the reference, the reason (a fixed reason, or "Other (see the register)") and the
providers holding the alert. The answer is recorded in the register, the withdrawal notices are
queued in the same transaction, the answer is deleted from Prefect, and the notices are sent.
`safeguard approve|reject REF --withdrawal` decides on the command line and resumes this run.
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

from flows.alert_approval import ALREADY_DECIDED, APPROVE
from flows.hooks import form_description, tell_admin_on_failure
from safeguard.bootstrap import open_app
from safeguard.service_layer.wording import notices_table
from tasks.approval import forget_approval_input, send_notices
from tasks.withdrawal import describe_withdrawal, record_withdrawal_decision, stop_waiting_for_withdrawal


class WithdrawalForm(RunInput):
    decision: Literal["approve", "decline"] = Field(description="Approve withdraws the alert and tells every "
                                                    "provider holding it; decline keeps it active.")
    approver_name: str = Field(min_length=2, max_length=200,
                               description="Your full name: the register records who decided.")
    reason: str = Field(default="", max_length=2000, description="Required to decline; the requester is told "
                        "it. No names or case details.")
    note: str = Field(default="", max_length=2000, description="Optional, kept in the register. No names or "
                      "case details.")


@flow(name="withdrawal-decision", flow_run_name="{reference} withdrawal", persist_result=False,
      log_prints=False, on_failure=[tell_admin_on_failure])
def withdrawal_decision(reference: str, config_dir: str | None = None,
                        poll_seconds: int = 10) -> dict[str, object]:
    run_id = str(flow_run.id)
    markdown = describe_withdrawal(config_dir, reference, run_id)
    if markdown is None:
        return {"reference": reference, "outcome": "no withdrawal request waiting for a decision"}
    timeout = open_app(config_dir).config.timescales.approval_timeout_days * 86400
    problem = ""
    while True:
        description = form_description(markdown, problem)
        try:
            answer = pause_flow_run(wait_for_input=WithdrawalForm.with_initial_data(description=description),
                                    timeout=timeout, poll_interval=poll_seconds)
        except FlowPauseTimeout:
            stop_waiting_for_withdrawal(config_dir, reference, run_id)
            return {"reference": reference, "outcome": "no decision in time; intake will start a new run"}
        result = record_withdrawal_decision(config_dir, reference, answer.decision == APPROVE,
                                            answer.approver_name, answer.reason, answer.note)
        forget_approval_input(run_id)
        if result.recorded or result.code == ALREADY_DECIDED:
            break
        problem = result.message
    sent = send_notices(config_dir, reference)
    outcome = result.decision or "decided elsewhere"
    create_markdown_artifact(
        key=f"withdrawal-{reference.lower()}", description=f"Withdrawal decision on {reference}",
        markdown=f"**Withdrawal of {reference}: {outcome}.**\n\n"
                 + notices_table(result.notices, result.not_sent, sent))
    return {"reference": reference, "outcome": outcome, "sent": sent}


def resume_waiting_withdrawal_run(run_id: str, decision: str, by: str) -> str:
    """After a decision made on the command line, let the run waiting in Prefect finish (it finds the
    decision already in the register). Returns what happened, in words."""
    from uuid import UUID

    from prefect.exceptions import PrefectException
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(UUID(run_id), run_input={"decision": decision, "approver_name": by, "reason": "",
                                                 "note": "decided on the command line"})
    except (PrefectException, RuntimeError, OSError) as exc:
        return (f"the withdrawal decision run in Prefect was not resumed ({type(exc).__name__}); "
                "it will end on its own")
    return "the withdrawal decision run in Prefect has been resumed and will finish"
