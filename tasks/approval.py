"""Tasks of the alert-approval flow and of starting it. They take and return references,
versions, codes and counts only: the approver's reason and note go to the register, not Prefect."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from safeguard.bootstrap import open_app
from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
from safeguard.service_layer.dispatch import (
    approval_summary,
    give_decision,
    record_approval_run,
    send_alert_email,
)

APPROVAL_DEPLOYMENT = "alert-approval/approval"


@dataclass(frozen=True)
class FormText:
    markdown: str  # initials and age bands, never names
    urgent: bool
    providers: tuple[str, ...] = ()  # the codes on the form: what the approver may leave out


@dataclass(frozen=True)
class Recorded:
    """A decision the register now holds, or why it holds none: codes and counts only."""

    recorded: bool
    code: str = ""  # why it was refused, e.g. already-decided
    message: str = ""  # the refusal in plain English (no case details)
    decision: str = ""  # approved | rejected | declined ("" when refused)
    notices: dict[str, list[str]] = field(default_factory=dict)  # notice kind -> provider codes
    not_sent: tuple[str, ...] = ()  # provider codes that could not be sent a notice
    next_stage: str = ""  # a staged approval: the stage still needed (nothing sent yet)


def refused(refusal: DecisionRefused) -> Recorded:
    return Recorded(False, refusal.code, refusal.message)


@task(cache_policy=NO_CACHE)
def describe_for_approval(config_dir: str | None, reference: str, version: int,
                          run_id: str) -> FormText | None:
    """The approval form's text (initials and age bands, no names), or None if nothing waits.
    Records this run against the version."""
    with open_app(config_dir).intake_context() as ctx:
        summary = approval_summary(ctx, reference, version)
        if summary is None:
            return None
        record_approval_run(ctx, reference, version, run_id)
    return FormText(summary.markdown(), summary.urgency == "Urgent", tuple(summary.codes))


@task(cache_policy=NO_CACHE)
def record_approval_decision(config_dir: str | None, reference: str, version: int, approve: bool, by: str,
                             reason: str, leave_out: list[str], note: str) -> Recorded:
    """The core records the decision and queues every notice in one transaction."""
    logger = get_run_logger()
    request = ApprovalRequest(approve, by, reason, tuple(leave_out), note)
    with open_app(config_dir).intake_context() as ctx:
        try:
            outcome = give_decision(ctx, reference, version, request)
        except DecisionRefused as refusal:
            logger.warning("decision on %s v%s not recorded: %s", reference, version, refusal.code)
            return refused(refusal)
    if not outcome.final:
        logger.info("%s v%s: stage %s given; waiting for stage %s", reference, version, outcome.stage,
                    outcome.next_stage)
        return Recorded(True, message=f"The {outcome.stage} stage was approved by {by}; this "
                        f"alert now needs its {outcome.next_stage} approval.", next_stage=outcome.next_stage)
    notices = {kind: len(codes) for kind, codes in outcome.notices.items()}
    logger.info("%s v%s %s: notices %s, not sent %s", reference, version, outcome.decision, notices,
                [n.code for n in outcome.not_sent])
    return Recorded(True, decision=outcome.decision, notices=outcome.notices,
                    not_sent=tuple(n.code for n in outcome.not_sent))


@task(retries=3, retry_delay_seconds=[5, 30, 120], cache_policy=NO_CACHE)
def send_notices(config_dir: str | None, reference: str) -> dict[str, int]:
    with open_app(config_dir).intake_context() as ctx:
        counts = send_alert_email(ctx, reference)
    if counts.get("deferred"):
        raise RuntimeError(f"{counts['deferred']} email(s) for {reference} could not be sent yet; retrying")
    return counts


@task(cache_policy=NO_CACHE)
def forget_approval_input(run_id: str) -> int:
    """Delete the approver's answer from Prefect once the register holds it: the reason and note
    are free text, and Prefect's database must hold no case details."""
    with get_client(sync_client=True) as client:
        answers = [i for prefix in ("suspended-", "paused-")
                   for i in client.filter_flow_run_input(UUID(run_id), key_prefix=prefix, limit=100,
                                                         exclude_keys=set())
                   if i.key.endswith("-response")]
        for answer in answers:
            client.delete_flow_run_input(UUID(run_id), answer.key)
    return len(answers)


@task(cache_policy=NO_CACHE)
def start_approval_runs(config_dir: str | None, decided_by_email: list[str] | None = None) -> dict[str, int]:
    """One alert-approval run per version waiting for a decision that has none yet, and one
    withdrawal-decision run per withdrawal request likewise. The runs of alerts just decided by
    email (`decided_by_email`: references) are ended: their notices were sent by intake already."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from safeguard.service_layer.dispatch import runs_to_end, versions_without_run
    from tasks.withdrawal import start_withdrawal_runs
    logger = get_run_logger()
    counts = {"started": 0, "no deployment": 0}
    with open_app(config_dir).intake_context() as ctx:
        for reference, run_id, words in runs_to_end(ctx, decided_by_email or []):
            logger.info("%s: %s", reference, end_waiting_run(run_id, words))
            counts["ended"] = counts.get("ended", 0) + 1
        for reference, version in versions_without_run(ctx):
            try:
                run = run_deployment(APPROVAL_DEPLOYMENT, timeout=0, as_subflow=False,
                                     parameters={"reference": reference, "version": version,
                                                 "config_dir": config_dir},
                                     flow_run_name=reference if version == 1 else f"{reference} v{version}")
            except ObjectNotFound:
                counts["no deployment"] += 1
                continue
            record_approval_run(ctx, reference, version, str(run.id))
            counts["started"] += 1
        counts.update(start_withdrawal_runs(ctx, config_dir))
    if counts["no deployment"]:
        logger.warning("%d alert(s) wait for approval but the %s deployment is not registered: deploy it "
                       "(prefect.yaml) or decide with 'safeguard approve'", counts["no deployment"],
                       APPROVAL_DEPLOYMENT)
    return counts


def end_waiting_run(run_id: str, words: str) -> str:
    """After a decision made by email or on the command line, end the run waiting in Prefect
    (Completed, with `words` as its message: references and names of approvers only). Returns what
    happened, in words."""
    from prefect.exceptions import PrefectException
    from prefect.states import Completed

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(run_id))
            if run.state is None or not run.state.is_paused():
                return "the run in Prefect was not waiting any more"
            client.set_flow_run_state(UUID(run_id), Completed(message=words), force=True)
    except (PrefectException, RuntimeError, OSError, ValueError) as exc:
        return f"the run in Prefect could not be ended ({type(exc).__name__}); end it in the Prefect UI"
    return "the run waiting in Prefect has been ended"
