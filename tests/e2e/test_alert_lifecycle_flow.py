"""The whole alert lifecycle on a real Prefect server, with the mailbox on real Dovecot/Postfix
(IMAP+SMTP), and again on Microsoft Graph and on Exchange Web Services (the protocol-level test
servers).

A submission arrives; intake starts an alert-approval run from its deployment; this test plays the
worker that executes the run; approval is given through Prefect's API; then what each provider was
sent is read (over IMAP as that provider, or from what Graph's sendMail delivered).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from testkit import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.ewssim import EwsSim
from tests.factories import fields, people
from tests.graphsim import GraphSim
from tests.mailstack import StackConfig, read_inbox, smtp_deliver, stack_config

pytestmark = pytest.mark.prefect
NOTE = "Sentinel-note-Wraithmoor"  # typed by the approver; must not stay in Prefect
REASON = "Sentinel-reason-Quillfeather"  # a withdrawal's free-text reason: the register's, never Prefect's


class Site:
    """The product's mailbox and the people around it, over one transport."""

    def __init__(self, config: StackConfig, sim: GraphSim | EwsSim | None) -> None:
        self.config, self.sim = config, sim

    def __getattr__(self, name: str) -> object:
        return getattr(self.config, name)

    def deliver(self, raw: bytes, sender: str) -> None:
        if self.sim:
            self.sim.deliver(raw)
        else:
            smtp_deliver(raw, self.config.mailbox, sender)

    def wait_for_inbox(self, count: int) -> None:
        if not self.sim:
            read_inbox(self.config.mailbox, count)

    def held(self, address: str, expect: int, timeout: float = 10.0) -> list[bytes]:
        if self.sim:
            return self.sim.sent_to(address)
        return read_inbox(address, expect, timeout=timeout)


@pytest.fixture(params=[pytest.param("imap", marks=pytest.mark.mailstack), "graph", "ews"])
def stack(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_IMAP_PASSWORD", "test")
    url = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    if request.param == "imap":
        yield Site(stack_config(tmp_path, url), None)
        return
    if request.param == "ews":
        monkeypatch.setenv("SAFEGUARD_EWS_CLIENT_SECRET", "s3cret")
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test server is plain HTTP on loopback
        sim: GraphSim | EwsSim = EwsSim(mailbox="")
        server = sim.start()
        config = stack_config(tmp_path, url, ews_url=sim.url)
        sim.mailbox = config.mailbox
        yield Site(config, sim)
        server.shutdown()
        return
    monkeypatch.setenv("SAFEGUARD_GRAPH_CLIENT_SECRET", "s3cret")
    sim = GraphSim(mailbox="")
    server = sim.start()
    config = stack_config(tmp_path, url, graph_url=sim.url)
    sim.mailbox = config.mailbox
    yield Site(config, sim)
    server.shutdown()


def submit(stack: Site, subject: str = "Health alert form", **form: str) -> None:
    raw = samples.submission(stack.social_worker, stack.mailbox, subject=subject, attachments=[
        ("form.xlsx",
         samples.xlsx_form(fields(**{"Social worker email": stack.social_worker, **form}), people()))])
    stack.deliver(raw, stack.social_worker)


def email(stack: Site, sender: str, subject: str, body: str) -> None:
    stack.deliver(samples.submission(sender, stack.mailbox, subject=subject, body=body), sender)


def run_intake(stack: Site, expect_in_inbox: int) -> dict[str, int]:
    from flows.intake import intake
    stack.wait_for_inbox(expect_in_inbox)
    return intake(config_dir=str(stack.directory))


def wait_until_paused(client, run_id, deadline: float, pause: int = 1) -> str:
    """Wait for the Suspended state and for its form (Prefect saves the form just after suspending);
    returns the form's description."""
    from prefect.exceptions import PrefectHTTPStatusError
    while True:
        state = client.read_flow_run(run_id).state
        if state is not None and state.is_paused():
            try:
                return client.read_flow_run_input(run_id, f"suspended-{pause}-description")
            except PrefectHTTPStatusError:
                pass
        assert time.monotonic() < deadline, f"the run never waited with its form ({state})"
        time.sleep(0.2)


def work(client, flow, run_id) -> object:
    """Act as the worker: run the flow run until it ends or suspends (then no process waits: the run's
    process ends, as this call returns). Returns what the run returned."""
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow

    run = client.read_flow_run(run_id)
    returned: list[object] = []

    def run_it() -> None:
        with contextlib.suppress(Pause):  # suspended: a real worker's process ends here
            returned.append(run_flow(flow, flow_run=run, parameters=run.parameters))

    worker = threading.Thread(target=run_it)
    worker.start()
    worker.join(90)
    assert not worker.is_alive(), "the run neither finished nor suspended"
    return returned[0] if returned else None


def answer_and_finish(client, flow, run_id, answer: dict[str, object]) -> object:
    """Answer the form; the answer starts the run again (this test plays the worker) and it finishes,
    with the answer deleted from Prefect. Returns what the run returned."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=answer)
    returned = work(client, flow, run_id)
    final = client.read_flow_run(run_id).state
    assert final is not None and final.is_completed(), final
    assert [i for prefix in ("suspended-", "paused-")
            for i in client.filter_flow_run_input(UUID(str(run_id)), key_prefix=prefix, limit=50,
                                                  exclude_keys=set())
            if i.key.endswith("-response")] == []
    return returned


def scheduled_run(client, name: str):  # a FlowRun: the run intake created, not yet picked up
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    waiting = FlowRunFilter(name=FlowRunFilterName(any_=[name]),
                            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    # the newest: an earlier test on the same Prefect server may have left a run of that name unstarted
    return client.read_flow_runs(flow_run_filter=waiting, sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                                 limit=1)[0]


def approve_through_prefect(version: int, reference: str, first_answer: dict[str, object] | None = None,
                            **answer: object) -> str:
    """Act as the worker for the run intake created, wait for it to suspend, and answer its form;
    returns the form's description."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from flows.alert_approval import alert_approval
    name = reference if version == 1 else f"{reference} v{version}"
    with get_client(sync_client=True) as client:
        run = scheduled_run(client, name)
        work(client, alert_approval, run.id)
        deadline = time.monotonic() + 60
        description = wait_until_paused(client, run.id, deadline)
        assert reference in description and samples.SUBJECT_SURNAME not in description
        if first_answer is not None:  # a refused answer: the form comes back saying why
            resume_flow_run(run.id, run_input=first_answer)
            work(client, alert_approval, run.id)
            again = wait_until_paused(client, run.id, deadline, pause=2)
            assert "Your last answer was not recorded" in again and "Give a reason for rejecting" in again
        answer_and_finish(client, alert_approval, run.id, {
            "decision": "approve", "approver_name": "Dana Nightingale", "reason": "", "leave_out": [],
            "note": NOTE, **answer})
    return str(description)


def decide_withdrawal_through_prefect(reference: str, **answer: object) -> str:
    """Act as the worker for the withdrawal-decision run intake created, wait for it to suspend, and
    answer its form; returns the form's description."""
    from prefect.client.orchestration import get_client

    from flows.withdrawal_decision import withdrawal_decision
    with get_client(sync_client=True) as client:
        run = scheduled_run(client, f"{reference} withdrawal")
        assert set(run.parameters) <= {"reference", "config_dir", "poll_seconds"}  # no case details
        work(client, withdrawal_decision, run.id)
        description = wait_until_paused(client, run.id, time.monotonic() + 60)
        answer_and_finish(client, withdrawal_decision, run.id, {
            "decision": "approve", "approver_name": "Dana Nightingale", "reason": "", "note": NOTE, **answer})
    return str(description)


def subjects(stack: Site, address: str, expect: int) -> list[str]:
    stack.held(address, expect)
    time.sleep(0.3)  # anything extra would have arrived by now
    return sorted(subject_of(m) for m in stack.held(address, expect))


def test_submit_approve_in_prefect_acknowledge_withdraw(approval_deployment: str, stack: Site,
                                                        prefect_server: str) -> None:
    submit(stack)
    assert run_intake(stack, 1)["accepted"] == 1
    ref = "HSA-2026-000001"
    approve_through_prefect(1, ref, first_answer={"decision": "reject", "approver_name": "Dana Nightingale",
                                                  "reason": "", "leave_out": [], "note": ""})
    uhcw, swft = stack.providers["UHCW"], stack.providers["SWFT"]
    assert subjects(stack, uhcw, 1) == [f"{ref}: HEALTH ALERT for UHCW: Missing child (URGENT)"]
    assert subjects(stack, swft, 1) == [f"{ref}: HEALTH ALERT for SWFT: Missing child (URGENT)"]
    for code in ("GEH", "CWPT", "WMAS", "BHAM"):
        assert stack.held(stack.providers[code], 0, timeout=0) == []
    assert any("URGENT health alert waiting for approval" in subject_of(m)
               for m in stack.held(stack.approver, 1))
    email(stack, uhcw, f"RE: {ref}: HEALTH ALERT for UHCW", "Flagged on our system.\n")
    email(stack, stack.social_worker, f"WITHDRAW {ref}", f"Reason: Other: {REASON}\n")
    assert run_intake(stack, 2)["recorded"] == 2
    assert f"{ref}: withdrawal request received" in subjects(stack, stack.social_worker, 3)
    assert stack.held(swft, 1) and len(subjects(stack, swft, 1)) == 1  # nothing until the team decides
    form = decide_withdrawal_through_prefect(ref)
    assert "Other (see the register)" in form and "UHCW: University Hospitals Coventry" in form
    assert REASON not in form and stack.social_worker not in form
    for address, code in ((uhcw, "UHCW"), (swft, "SWFT")):
        held = subjects(stack, address, 2)
        assert held.count(f"{ref}: health alert WITHDRAWN for {code}") == 1 and len(held) == 2
    assert f"{ref}: withdrawn" in subjects(stack, stack.social_worker, 4)
    from cli.main import main
    assert main(["--config", str(stack.directory), "reinstate", ref, "--by", "Sam Okafor",
                 "--reason", "Withdrawn in error."]) == 0
    for address, code in ((uhcw, "UHCW"), (swft, "SWFT")):
        held = subjects(stack, address, 3)
        assert held.count(f"{ref}: WITHDRAWAL CANCELLED for {code}: flag the health alert again") == 1
        assert len(held) == 3
    assert leaked(prefect_server, (NOTE, REASON)) == []


def test_an_update_withdraws_from_the_removed_and_alerts_the_added(approval_deployment: str, stack: Site,
                                                                  prefect_server: str) -> None:
    submit(stack)
    run_intake(stack, 1)
    ref = "HSA-2026-000001"
    approve_through_prefect(1, ref)
    submit(stack, subject=f"Updated form {ref}", **{"Alert reference": ref, "Providers to alert": "UHCW, GEH",
                                                    "Review date": "01/02/2027"})
    assert run_intake(stack, 1)["recorded"] == 1
    approve_through_prefect(2, ref)
    assert subjects(stack, stack.providers["UHCW"], 2)[1] == \
        f"{ref}: UPDATED health alert for UHCW (version 2)"
    assert subjects(stack, stack.providers["SWFT"], 2)[1] == f"{ref}: health alert WITHDRAWN for SWFT"
    assert subjects(stack, stack.providers["GEH"], 1) == \
        [f"{ref}: HEALTH ALERT for GEH: Missing child (URGENT)"]
    for code in ("CWPT", "WMAS", "BHAM"):
        assert stack.held(stack.providers[code], 0, timeout=0) == []
    assert leaked(prefect_server, (NOTE,)) == []
