"""Overdue approvals are escalated within minutes, not at the nightly reconciliation: the
approval-escalation flow on a real Prefect server, run at the instants its 5-minute schedule would
run it (simulated time), with a short wait limit. The approvers' email comes within the limit plus
15 minutes, the Designated Nurse's after twice the limit, each once; the run's artifact and logs
hold references and counts only."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from flows.serve import ROOT
from safeguard.adapters.mail.maildir import deliver
from safeguard.service_layer.intake import IntakeContext, process_message
from tests.conftest import NOW, subject_of
from tests.e2e.prefect_db import leaked
from tests.factories import xlsx_submission

pytestmark = pytest.mark.prefect
LIMIT = timedelta(minutes=30)  # urgent_approval_wait_limit_hours below: the sample form is urgent
STEP = timedelta(minutes=5)  # the approval-escalation deployment's schedule (prefect.yaml)
NURSE = "lead.nurse@example-icb.test"  # not also an approver, so that each email is told apart


def short_limits(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    timescales = yaml.safe_load((folder / "timescales.yaml").read_text())
    timescales.update(approval_wait_limit_hours=1, urgent_approval_wait_limit_hours=LIMIT.seconds / 3600)
    (folder / "timescales.yaml").write_text(yaml.safe_dump(timescales))
    settings = yaml.safe_load((folder / "settings.yaml").read_text())
    settings["service"]["designated_nurse"] = NURSE
    (folder / "settings.yaml").write_text(yaml.safe_dump(settings))
    return folder


def overdue_emails(site: IntakeContext, address: str) -> list[str]:
    folder: Path = site.mailbox.deliver_to / address / "new"  # type: ignore[attr-defined, operator]
    found = [subject_of(p.read_bytes()) for p in folder.iterdir()] if folder.exists() else []
    return [s for s in found if "waiting for approval for" in s]


def test_an_overdue_approval_reaches_the_approvers_within_the_limit_and_15_minutes_then_the_nurse(
        prefect_server: str, site: IntakeContext, tmp_path: Path) -> None:
    from flows.escalation import approval_escalation
    config_dir = short_limits(tmp_path)
    deliver(site.mailbox.root, xlsx_submission())  # type: ignore[attr-defined]
    [result] = [process_message(m, site) for m in site.mailbox.list_new()]  # waiting since NOW
    approvers, nurse = site.config.settings.service.approver_addresses, NURSE
    first: dict[str, datetime] = {}
    instant = NOW
    while instant <= NOW + 2 * LIMIT + timedelta(minutes=15):
        approval_escalation(config_dir=str(config_dir), now=instant.isoformat())
        for who, address in (("approvers", approvers[-1]), ("nurse", nurse)):
            if overdue_emails(site, address) and who not in first:
                first[who] = instant
        instant += STEP
    assert LIMIT <= first["approvers"] - NOW <= LIMIT + timedelta(minutes=15)
    assert 2 * LIMIT <= first["nurse"] - NOW <= 2 * LIMIT + timedelta(minutes=15)
    for address in approvers:  # each once, however many runs saw it overdue
        assert overdue_emails(site, address) == [
            f"{result.reference}: URGENT health alert waiting for approval for 30 minutes"]
    assert overdue_emails(site, nurse) == [
        f"{result.reference}: URGENT health alert waiting for approval for 1 hour"]
    assert leaked(prefect_server) == []


def test_the_escalation_runs_every_five_minutes_as_served() -> None:
    from flows.serve import served_deployments
    [escalation] = [d for d in served_deployments() if d.name == "approval-escalation"]
    assert [s.schedule.cron for s in escalation.schedules] == ["*/5 * * * *"]
