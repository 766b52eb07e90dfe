"""The reminders and reconcile flows on a real Prefect server, the failure hook, and the deployments
of prefect.yaml created by `prefect deploy --all` and by `safeguard serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect import flow

from flows.hooks import tell_admin_on_failure
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.reconcile import CHECKS
from tests.conftest import ROOT, subject_of
from tests.e2e.prefect_db import leaked
from tests.reconcile_seed import clean_register, seed_every_discrepancy

pytestmark = pytest.mark.prefect


def config_without_swft(tmp_path: Path) -> str:
    folder = tmp_path / "config-now"
    shutil.copytree(ROOT / "config", folder)
    directory = yaml.safe_load((folder / "providers.yaml").read_text())
    directory["providers"] = [p for p in directory["providers"] if p["code"] != "SWFT"]
    (folder / "providers.yaml").write_text(yaml.safe_dump(directory))
    return str(folder)


def admin_subjects(ctx: IntakeContext) -> list[str]:
    inbox = ctx.mailbox.deliver_to / ctx.config.settings.service.admin_team / "new"  # type: ignore[attr-defined, operator]
    return sorted(subject_of(p.read_bytes()) for p in inbox.iterdir()) if inbox.exists() else []


def latest_artifact(key: str) -> list[dict[str, object]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                           sort=ArtifactSort.CREATED_DESC, limit=1)
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data  # type: ignore[return-value]


def test_reconciliation_reports_every_discrepancy_and_needs_attention(
        prefect_server: str, site: IntakeContext, tmp_path: Path) -> None:
    from flows.reconcile import reconcile
    seed_every_discrepancy(site)
    state = reconcile(config_dir=config_without_swft(tmp_path), return_state=True)
    assert state.is_failed() and state.name == "Needs attention"
    rows = {r["check"]: r["count"] for r in latest_artifact("reconciliation")}
    assert rows == dict.fromkeys(CHECKS, 1)
    digests = [s for s in admin_subjects(site) if s.startswith("Nightly reconciliation")]
    assert len(digests) == 1 and digests[0].endswith(f": {len(CHECKS)} to look at")
    assert not any(s.startswith("Prefect run failed") for s in admin_subjects(site))  # the digest says it all
    assert leaked(prefect_server) == []


def test_a_clean_reconciliation_completes(prefect_server: str, site: IntakeContext) -> None:
    from flows.reconcile import reconcile
    clean_register(site)
    state = reconcile(config_dir=str(ROOT / "config"), return_state=True)
    assert state.is_completed(), state
    assert all(r["count"] == 0 for r in latest_artifact("reconciliation"))


def test_reminders_flow_runs_at_a_chosen_instant(prefect_server: str, site: IntakeContext) -> None:
    from flows.reminders import reminders
    clean_register(site)
    result = reminders(config_dir=str(ROOT / "config"), now="2026-11-24T08:00")
    assert result["queued"] == {"provider-chase": 2}  # the alert still active; its two providers
    assert reminders(config_dir=str(ROOT / "config"), now="2026-11-24T08:00")["queued"] == {}
    assert latest_artifact("reminders-last-run")[0]["reminder"] == "none due"


def test_a_failed_run_emails_the_admin_team_a_link_only(prefect_server: str, site: IntakeContext) -> None:
    @flow(name="broken-for-test", on_failure=[tell_admin_on_failure])
    def broken(config_dir: str | None = None) -> None:
        raise RuntimeError("Sentinel-error-Xyzzy")  # an error text must never travel by email

    state = broken(config_dir=str(ROOT / "config"), return_state=True)
    assert state.is_failed()
    [path] = list((site.mailbox.deliver_to / site.config.settings.service.admin_team / "new").iterdir())  # type: ignore[operator]
    raw = path.read_bytes()
    assert subject_of(raw).startswith("Prefect run failed: broken-for-test")
    assert b"/runs/flow-run/" in raw and b"Sentinel-error-Xyzzy" not in raw


def test_prefect_deploy_all_creates_every_deployment_on_its_london_schedule(prefect_server: str,
                                                                             tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import get_current_settings
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="safeguard-process", type="process"), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": get_current_settings().api.url or "", "SAFEGUARD_HOME": str(ROOT),
           "SAFEGUARD_CONFIG": str(ROOT / "config")}
    result = subprocess.run([str(Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy",
                             "--all"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    expected = {"intake/intake": "* * * * *", "reminders/reminders": "0 8 * * 1-5",
                "reconcile/reconcile": "0 2 * * *", "alert-approval/approval": None,
                "returns/returns": "0 7 1 * *",
                "withdrawal-decision/withdrawal": None, "reinstate/reinstate": None,
                "approval-escalation/approval-escalation": "*/5 * * * *"}
    with get_client(sync_client=True) as client:
        for name, cron in expected.items():
            deployment = client.read_deployment_by_name(name)
            assert deployment.work_pool_name == "safeguard-process"
            schedules = [s.schedule for s in deployment.schedules]
            if cron is None:
                assert schedules == []
            else:
                assert [(s.cron, s.timezone) for s in schedules] == [(cron, "Europe/London")]


def test_safeguard_serve_builds_the_same_deployments() -> None:
    from flows.serve import served_deployments
    built = {d.name: [(s.schedule.cron, s.schedule.timezone) for s in (d.schedules or [])]
             for d in served_deployments()}
    assert built == {"intake": [("* * * * *", "Europe/London")], "approval": [], "withdrawal": [],
                     "reinstate": [], "approval-escalation": [("*/5 * * * *", "Europe/London")],
                     "reminders": [("0 8 * * 1-5", "Europe/London")],
                     "reconcile": [("0 2 * * *", "Europe/London")],
                     "returns": [("0 7 1 * *", "Europe/London")]}


def test_the_monthly_returns_flow_writes_emails_and_shows_headline_numbers(
        prefect_server: str, site: IntakeContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from flows.returns import monthly_returns
    from safeguard.adapters.mail.maildir import deliver
    from safeguard.adapters.workbooks.fgm_template import fgm_file
    from safeguard.service_layer.intake import process_message
    from testkit import samples
    from testkit.fgm_synthetic import record, valid_nhs_numbers
    numbers = valid_nhs_numbers()
    rows = [record(next(numbers), date(2026, 10, 3 + n)) for n in range(9)]
    deliver(site.mailbox.root, samples.submission(  # type: ignore[attr-defined]
        "safeguarding@uhcw.test", site.config.settings.service.mailbox_address, subject="FGM 2026-10",
        attachments=[("fgm.xlsx", fgm_file(site.config.fgm, rows, month="2026-10", organisation="UHCW"))]))
    [process_message(m, site) for m in site.mailbox.list_new()]
    monkeypatch.chdir(tmp_path)  # the returns folder (var/returns) is relative to the worker's directory
    result = monthly_returns(config_dir=str(ROOT / "config"), month="2026-10")
    assert result["fgm"] == {"Individuals": 10, "Newly recorded": 10, "Total attendances": 10,
                             "Active cases": 0}
    assert (tmp_path / "var" / "returns" / "FGM-record-level-2026-10.xlsx").exists()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["monthly-returns"])), limit=1)
    assert "| Individuals | 10 |" in artifact.data and "FGM-aggregate-2026-10.xlsx" in artifact.data
    assert "{" not in artifact.data and "'" not in artifact.data  # tables and words, no Python reprs
    assert "Monthly returns 2026-10" in admin_subjects(site)
    assert leaked(prefect_server, tuple(r["nhs_number"] for r in rows)) == []
