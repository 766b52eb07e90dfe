"""withdrawal-decision: one run per WITHDRAW waiting for the safeguarding team, named with its
reference, started by intake (service.withdrawal_needs_approval).

The form shows the reference, the reason (a fixed reason, or "Other (see the register)") and the
providers holding the alert. The answer is recorded in the register, the withdrawal notices are
queued in the same transaction, the answer is deleted from Prefect, and the notices are sent.
The run waits suspended, holding no process; the decider chooses their name from the listed
approvers. `safeguard approve|reject REF --withdrawal` decides on the command line and ends this run.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from flows.alert_approval import ALREADY_DECIDED, APPROVE, LOST
from flows.hooks import form_description, tell_admin_on_failure
from flows.waiting import approver_field, first_wait, form_model, wait_for_answer
from safeguard.bootstrap import open_app
from safeguard.service_layer.wording import notices_table
from tasks.approval import forget_approval_input, send_notices
from tasks.withdrawal import describe_withdrawal, record_withdrawal_decision


def withdrawal_form(approvers: list[str]) -> type[RunInput]:
    return form_model(
        "WithdrawalForm", RunInput,
        decision=(Literal["approve", "decline"], Field(
            description="Approve withdraws the alert and tells every provider holding it; decline keeps it "
                        "active.")),
        approver_name=approver_field(approvers, "the register records who decided."),
        reason=(str, Field(default="", max_length=2000, description="Required to decline; the requester is "
                           "told it. No names or case details.")),
        note=(str, Field(default="", max_length=2000, description="Optional, kept in the register. No names "
                         "or case details.")),
    )


@flow(name="withdrawal-decision", flow_run_name="{reference} withdrawal", persist_result=False,
      log_prints=False, on_failure=[tell_admin_on_failure])
def withdrawal_decision(reference: str, config_dir: str | None = None,
                        poll_seconds: int = 10) -> dict[str, object]:
    """Waits suspended, holding no process (flows/waiting.py); poll_seconds is no longer used."""
    run_id = str(flow_run.id)
    markdown = describe_withdrawal(config_dir, reference, run_id)
    if markdown is None:
        return {"reference": reference, "outcome": "no withdrawal request waiting for a decision"}
    model = withdrawal_form([a.name for a in open_app(config_dir).config.settings.service.approvers])
    number, problem = first_wait(), ""
    while True:
        answer: Any = wait_for_answer(model, form_description(markdown, problem), number)
        number += 1
        if answer is None:
            problem = LOST
            continue
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
