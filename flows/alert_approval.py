"""alert-approval: one run per alert version, named with its reference, waiting for a decision.

The run suspends with the approval form (flows/waiting.py): no process is held while it waits. The
approver chooses their name from the listed approvers and may pick providers to leave out; the
answer starts the run again, which records the decision in the register (every notice queued in
the same transaction), deletes the answer from Prefect and sends the notices. A decision by email
or `safeguard approve|reject` ends the waiting run instead. A staged approval (alert_types.yaml
approval_stages) waits again after each stage but the last.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from flows.hooks import form_description, tell_admin_on_failure
from flows.waiting import approver_field, choice, first_wait, form_model, wait_for_answer
from safeguard.bootstrap import open_app
from safeguard.service_layer.wording import notices_table
from tasks.approval import (
    describe_for_approval,
    forget_approval_input,
    record_approval_decision,
    send_notices,
)

APPROVE = "approve"
ALREADY_DECIDED = "already-decided"  # DecisionRefused.code when the register has a decision already
LOST = "Your answer was not received in full. Please answer again."


def approval_form(approvers: list[str], providers: tuple[str, ...]) -> type[RunInput]:
    """The form: the approver is chosen from the listed approvers, the providers to leave out are
    picked from the codes on the alert's form (neither can be typed)."""
    return form_model(
        "ApprovalForm", RunInput,
        decision=(Literal["approve", "reject"], Field(description="Approve sends the notices; reject tells "
                                                      "the sender your reason.")),
        approver_name=approver_field(approvers, "the register records who decided."),
        reason=(str, Field(default="", max_length=2000, description="Required to reject; the sender is told "
                           "it. No names or case details.")),
        leave_out=(list[choice(list(providers), "(none)")], Field(  # type: ignore[misc]
            default_factory=list, description="Providers to leave out: pick them from the list (you "
            "cannot add a provider).")),
        note=(str, Field(default="", max_length=2000, description="Optional, kept in the register. No names "
                         "or case details.")),
    )


@flow(name="alert-approval", flow_run_name="{reference} v{version}", persist_result=False, log_prints=False,
      on_failure=[tell_admin_on_failure])
def alert_approval(reference: str, version: int = 1, config_dir: str | None = None,
                   poll_seconds: int = 10) -> dict[str, object]:
    """poll_seconds: no longer used (the run holds no process while it waits); kept so that older
    deployments' parameters still apply."""
    run_id = str(flow_run.id)
    form = describe_for_approval(config_dir, reference, version, run_id)
    if form is None:
        return {"reference": reference, "version": version, "outcome": "nothing waiting for a decision"}
    names = [a.name for a in open_app(config_dir).config.settings.service.approvers]
    model = approval_form(names, form.providers)
    number, problem = first_wait(), ""
    while True:
        answer: Any = wait_for_answer(model, form_description(form.markdown, problem), number)
        number += 1
        if answer is None:
            problem = LOST
            continue
        result = record_approval_decision(config_dir, reference, version, answer.decision == APPROVE,
                                          answer.approver_name, answer.reason, answer.leave_out, answer.note)
        forget_approval_input(run_id)
        if result.next_stage:  # a staged approval: the form now says which stage is next
            problem, form = "", describe_for_approval(config_dir, reference, version, run_id) or form
            continue
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
