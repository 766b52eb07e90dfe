"""The reinstate flow on a real Prefect server, as the admin team uses it from the UI: a run with the
alert's reference as its only parameter pauses for the form; the answer reinstates the alert, each
provider told of the withdrawal gets one "withdrawal cancelled" notice, and the answer is deleted
from Prefect. An alert that is not withdrawn is refused in plain English without pausing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from safeguard.adapters.mail.maildir import deliver
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from testkit import samples
from tests.conftest import ROOT, subject_of
from tests.e2e.prefect_db import leaked
from tests.factories import INBOX, SW, xlsx_submission
from tests.withdrawals import approve_withdrawal

pytestmark = pytest.mark.prefect
REASON = "Sentinel-reinstate-Brackenfold"  # typed in the form: the register keeps it, Prefect must not


def withdrawn_alert(site: IntakeContext) -> str:
    box = site.mailbox.root  # type: ignore[attr-defined]
    deliver(box, xlsx_submission())
    [result] = [process_message(m, site) for m in site.mailbox.list_new()]
    give_decision(site, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(site, result.reference)
    deliver(box, samples.submission(SW, INBOX, subject=f"WITHDRAW {result.reference}",
                                    body="Reason: Found\n"))
    [process_message(m, site) for m in site.mailbox.list_new()]
    approve_withdrawal(site, result.reference)
    return result.reference


def held(site: IntakeContext, address: str) -> list[str]:
    root: Path = site.mailbox.deliver_to / address / "new"  # type: ignore[attr-defined, operator]
    return sorted(subject_of(p.read_bytes()) for p in root.iterdir()) if root.exists() else []


def run_reinstate(reference: str, answer: dict[str, object] | None) -> tuple[dict[str, object], str]:
    """Start a reinstate run as the UI's Run button does, act as its worker, answer the form if
    given; returns the run's result and the form's description ("" if it never waited)."""
    from prefect.client.orchestration import get_client

    from flows.reinstate import reinstate
    from tests.e2e.test_alert_lifecycle_flow import answer_and_finish, wait_until_paused, work
    deployment = reinstate.to_deployment(name="reinstate").apply()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment, parameters={
            "reference": reference, "config_dir": str(ROOT / "config")})
        returned = work(client, reinstate, run.id)
        description = ""
        if answer is not None:
            description = str(wait_until_paused(client, run.id, time.monotonic() + 60))
            returned = answer_and_finish(client, reinstate, run.id, answer)
        final = client.read_flow_run(run.id).state
        assert final is not None and final.is_completed(), final
    assert isinstance(returned, dict)
    return returned, description


def test_reinstating_in_prefect_tells_each_provider_once_and_forgets_the_answer(
        prefect_server: str, site: IntakeContext) -> None:
    ref = withdrawn_alert(site)
    result, form = run_reinstate(ref, {"reinstate": True, "reinstated_by": "Sam Okafor", "reason": REASON})
    assert result["reinstated"] is True, result
    assert "UHCW: University Hospitals Coventry" in form and "SWFT: " in form
    for code, address in (("UHCW", "safeguarding@uhcw.test"), ("SWFT", "safeguarding.team@swft.test")):
        assert held(site, address).count(
            f"{ref}: WITHDRAWAL CANCELLED for {code}: flag the health alert again") == 1
    assert held(site, "safeguarding@geh.test") == []
    again, form = run_reinstate(ref, None)  # active now: refused without pausing
    assert again["reinstated"] is False and (
        "is active, not withdrawn, so there is nothing to reinstate" in str(again["outcome"]))
    assert leaked(prefect_server, (REASON,)) == []
