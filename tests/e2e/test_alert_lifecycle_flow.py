"""The whole alert lifecycle on real Dovecot/Postfix and a real Prefect server.

A submission arrives over SMTP; intake starts an alert-approval run from its deployment; this test
plays the worker that executes the run; approval is given through Prefect's API; then each
provider's own mailbox is read over IMAP as that provider.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from uuid import UUID

import pytest

from safeguard import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.factories import fields, people
from tests.mailstack import StackConfig, read_inbox, smtp_deliver, stack_config

pytestmark = [pytest.mark.prefect, pytest.mark.mailstack]
NOTE = "Sentinel-note-Wraithmoor"  # typed by the approver; must not stay in Prefect


@pytest.fixture(scope="module")
def approval_deployment(prefect_server: str) -> str:
    from flows.alert_approval import alert_approval
    alert_approval.to_deployment(name="approval", parameters={"poll_seconds": 1}).apply()
    return "alert-approval/approval"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_IMAP_PASSWORD", "test")
    return stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}")


def submit(stack: StackConfig, subject: str = "Health alert form", **form: str) -> None:
    raw = samples.submission(stack.social_worker, stack.mailbox, subject=subject, attachments=[
        ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": stack.social_worker, **form}), people()))])
    smtp_deliver(raw, stack.mailbox, stack.social_worker)


def email(stack: StackConfig, sender: str, subject: str, body: str) -> None:
    smtp_deliver(samples.submission(sender, stack.mailbox, subject=subject, body=body), stack.mailbox, sender)


def run_intake(stack: StackConfig, expect_in_inbox: int) -> dict[str, int]:
    from flows.intake import intake
    read_inbox(stack.mailbox, expect_in_inbox)
    return intake(config_dir=str(stack.directory))


def wait_until_paused(client, run_id, deadline: float, pause: int = 1) -> str:  # noqa: ANN001
    """Wait for the Paused state and for its form (Prefect saves the form just after pausing);
    returns the form's description."""
    from prefect.exceptions import PrefectHTTPStatusError
    while True:
        state = client.read_flow_run(run_id).state
        if state is not None and state.is_paused():
            try:
                return client.read_flow_run_input(run_id, f"paused-{pause}-description")
            except PrefectHTTPStatusError:
                pass
        assert time.monotonic() < deadline, f"the approval run never paused with its form ({state})"
        time.sleep(0.2)


def approve_through_prefect(version: int, reference: str, first_answer: dict[str, object] | None = None,
                            **answer: object) -> None:
    """Act as the worker for the run intake created, wait for it to pause, and answer its form."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.flow_engine import run_flow
    from prefect.flow_runs import resume_flow_run

    from flows.alert_approval import alert_approval
    name = reference if version == 1 else f"{reference} v{version}"
    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
        worker = threading.Thread(target=run_flow, args=(alert_approval,),
                                  kwargs={"flow_run": run, "parameters": run.parameters})
        worker.start()
        deadline = time.monotonic() + 60
        description = wait_until_paused(client, run.id, deadline)
        assert reference in description and samples.SUBJECT_SURNAME not in description
        if first_answer is not None:  # a refused answer: the form comes back saying why
            resume_flow_run(run.id, run_input=first_answer)
            time.sleep(0.5)
            again = wait_until_paused(client, run.id, deadline, pause=2)
            assert "Your last answer was not recorded" in again and "can only leave out" in again
        resume_flow_run(run.id, run_input={"decision": "approve", "approver_name": "Dana Nightingale",
                                           "reason": "", "leave_out": [], "note": NOTE, **answer})
        worker.join(60)
        final = client.read_flow_run(run.id).state
        assert final is not None and final.is_completed(), final
        assert [i for i in client.filter_flow_run_input(UUID(str(run.id)), key_prefix="paused-", limit=50,
                                                        exclude_keys=set()) if i.key.endswith("-response")] == []


def subjects(address: str, expect: int) -> list[str]:
    read_inbox(address, expect)
    time.sleep(0.3)  # anything extra would have arrived by now
    return sorted(subject_of(m) for m in read_inbox(address, expect))


def test_submit_approve_in_prefect_acknowledge_withdraw(approval_deployment: str, stack: StackConfig,
                                                        prefect_server: str) -> None:
    submit(stack)
    assert run_intake(stack, 1)["accepted"] == 1
    ref = "HSA-2026-000001"
    approve_through_prefect(1, ref, first_answer={"decision": "approve", "approver_name": "Dana Nightingale",
                                                  "reason": "", "leave_out": ["WMAS"], "note": ""})
    uhcw, swft = stack.providers["UHCW"], stack.providers["SWFT"]
    assert subjects(uhcw, 1) == [f"{ref}: HEALTH ALERT for UHCW: Missing child (URGENT)"]
    assert subjects(swft, 1) == [f"{ref}: HEALTH ALERT for SWFT: Missing child (URGENT)"]
    for code in ("GEH", "CWPT", "WMAS", "BHAM"):
        assert read_inbox(stack.providers[code], 0, timeout=0) == []
    assert any("URGENT health alert waiting for approval" in subject_of(m)
               for m in read_inbox(stack.approver, 1))
    email(stack, uhcw, f"RE: {ref}: HEALTH ALERT for UHCW", "Flagged on our system.\n")
    email(stack, stack.social_worker, f"WITHDRAW {ref}", "Reason: Found\n")
    assert run_intake(stack, 2)["recorded"] == 2
    for address, code in ((uhcw, "UHCW"), (swft, "SWFT")):
        held = subjects(address, 2)
        assert held.count(f"{ref}: health alert WITHDRAWN for {code}") == 1 and len(held) == 2
    assert leaked(prefect_server, (NOTE,)) == []


def test_an_update_withdraws_from_the_removed_and_alerts_the_added(approval_deployment: str, stack: StackConfig,
                                                                  prefect_server: str) -> None:
    submit(stack)
    run_intake(stack, 1)
    ref = "HSA-2026-000001"
    approve_through_prefect(1, ref)
    submit(stack, subject=f"Updated form {ref}", **{"Alert reference": ref, "Providers to alert": "UHCW, GEH",
                                                    "Review date": "01/02/2027"})
    assert run_intake(stack, 1)["recorded"] == 1
    approve_through_prefect(2, ref)
    assert subjects(stack.providers["UHCW"], 2)[1] == f"{ref}: UPDATED health alert for UHCW (version 2)"
    assert subjects(stack.providers["SWFT"], 2)[1] == f"{ref}: health alert WITHDRAWN for SWFT"
    assert subjects(stack.providers["GEH"], 1) == [f"{ref}: HEALTH ALERT for GEH: Missing child (URGENT)"]
    for code in ("CWPT", "WMAS", "BHAM"):
        assert read_inbox(stack.providers[code], 0, timeout=0) == []
    assert leaked(prefect_server, (NOTE,)) == []
