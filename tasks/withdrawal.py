"""Tasks of the withdrawal-decision and reinstate flows, and of starting decision runs. They take
and return references, provider codes, fixed reasons and counts only: the free-text reason, the
decision's reason and note stay in the register, not Prefect."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from safeguard.bootstrap import open_app
from safeguard.service_layer.approval import DecisionRefused
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.withdrawal import WithdrawalAnswer, reinstatement_summary
from safeguard.service_layer.withdrawal_dispatch import (
    give_reinstatement,
    give_withdrawal_decision,
    record_withdrawal_run,
    withdrawal_form,
    withdrawals_without_run,
)
from tasks.approval import Recorded, refused

WITHDRAWAL_DEPLOYMENT = "withdrawal-decision/withdrawal"


@task(cache_policy=NO_CACHE)
def describe_withdrawal(config_dir: str | None, reference: str, run_id: str) -> str | None:
    """The decision form's text (fixed reason, providers by code and name), or None if no request
    waits. Records this run against the request and emails the approvers a link to it."""
    with open_app(config_dir).intake_context() as ctx:
        summary = withdrawal_form(ctx, reference)
        if summary is None:
            return None
        record_withdrawal_run(ctx, reference, run_id)
    return summary.markdown()


@task(cache_policy=NO_CACHE)
def record_withdrawal_decision(config_dir: str | None, reference: str, approve: bool, by: str, reason: str,
                               note: str) -> Recorded:
    logger = get_run_logger()
    with open_app(config_dir).intake_context() as ctx:
        try:
            outcome = give_withdrawal_decision(ctx, reference, WithdrawalAnswer(approve, by, reason, note))
        except DecisionRefused as refusal:
            logger.warning("withdrawal decision on %s not recorded: %s", reference, refusal.code)
            return refused(refusal)
    logger.info("withdrawal of %s %s: notices %s, not sent %s", reference, outcome.decision, outcome.notices,
                [n.code for n in outcome.not_sent])
    return Recorded(True, decision=outcome.decision, notices={"withdrawal": outcome.notices},
                    not_sent=tuple(n.code for n in outcome.not_sent))


def start_withdrawal_runs(ctx: IntakeContext, config_dir: str | None) -> dict[str, int]:
    """One withdrawal-decision run per waiting request that has none yet (called by start_approval_runs)."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    counts = {"withdrawal started": 0, "withdrawal no deployment": 0}
    for reference in withdrawals_without_run(ctx):
        try:
            run = run_deployment(WITHDRAWAL_DEPLOYMENT, timeout=0, as_subflow=False,
                                 parameters={"reference": reference, "config_dir": config_dir},
                                 flow_run_name=f"{reference} withdrawal")
        except ObjectNotFound:
            counts["withdrawal no deployment"] += 1
            continue
        record_withdrawal_run(ctx, reference, str(run.id))
        counts["withdrawal started"] += 1
    if counts["withdrawal no deployment"]:
        get_run_logger().warning("%d withdrawal request(s) wait for a decision but the %s deployment is not "
                                 "registered: deploy it (prefect.yaml) or decide with 'safeguard approve "
                                 "--withdrawal'", counts["withdrawal no deployment"], WITHDRAWAL_DEPLOYMENT)
    return {k: v for k, v in counts.items() if v}


@task(cache_policy=NO_CACHE)
def describe_reinstatement(config_dir: str | None, reference: str) -> tuple[bool, str]:
    """(True, the reinstate form's text) or (False, why the alert cannot be reinstated)."""
    with open_app(config_dir).intake_context() as ctx, ctx.uow() as u:
        return reinstatement_summary(u.register, ctx.config, reference)


@task(cache_policy=NO_CACHE)
def record_reinstatement(config_dir: str | None, reference: str, by: str, reason: str) -> Recorded:
    logger = get_run_logger()
    with open_app(config_dir).intake_context() as ctx:
        try:
            outcome = give_reinstatement(ctx, reference, by, reason)
        except DecisionRefused as refusal:
            logger.warning("reinstatement of %s not recorded: %s", reference, refusal.code)
            return refused(refusal)
    logger.info("%s reinstated: notices %s, not sent %s", reference, outcome.notices,
                [n.code for n in outcome.not_sent])
    return Recorded(True, decision="reinstated", notices={"reinstatement": outcome.notices},
                    not_sent=tuple(n.code for n in outcome.not_sent))
