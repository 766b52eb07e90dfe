"""Hospitals kept in step, on a real Prefect server with the mailbox on real Dovecot/Postfix: the
weekly "alerts you hold" digest and its CONFIRM, SEEN routed within one intake run, and the approval
form's warning about another alert for the same person (references only)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from safeguard.domain.calendar import WorkingDays
from safeguard.service_layer.digests import digest_day
from testkit import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.e2e.test_alert_lifecycle_flow import (
    Site,
    approve_through_prefect,
    email,
    run_intake,
    subjects,
    submit,
)
from tests.mailstack import stack_config

pytestmark = [pytest.mark.prefect, pytest.mark.mailstack, pytest.mark.usefixtures("approval_deployment")]
CAL = WorkingDays()


@pytest.fixture
def imap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_IMAP_PASSWORD", "test")
    return Site(stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}"), None)


def team_manager(site: Site) -> str:
    return site.social_worker.replace("sw-", "tm-", 1)  # unique to the test, like the social worker


def raise_three(site: Site) -> list[str]:
    """Three alerts, approved in Prefect: one to UHCW and SWFT, one to UHCW, one to SWFT."""
    for providers in ("UHCW, SWFT", "UHCW", "SWFT"):
        submit(site, **{"Providers to alert": providers, "Team manager email": team_manager(site)})
    assert run_intake(site, 3)["accepted"] == 3
    refs = [f"HSA-{date.today().year}-00000{n}" for n in (1, 2, 3)]
    forms = [approve_through_prefect(1, ref) for ref in refs]
    assert f"Another active alert shares a subject: {refs[0]}." in forms[1]  # the same child's NHS number
    return refs


def reminders_at(site: Site, day: date) -> str:
    from cli.main import main
    assert main(["--config", str(site.directory), "reminders", "--now", f"{day.isoformat()}T08:00"]) == 0
    return day.isoformat()


def next_digest_day(site: Site) -> date:
    from safeguard.adapters.config_files import load_config
    config = load_config(site.directory)
    day = date.today() + timedelta(days=1)
    while digest_day(config, CAL, day) != day:
        day += timedelta(days=1)
    return day


def digests(site: Site, address: str, expect: int) -> list[bytes]:
    return [m for m in site.held(address, expect) if subject_of(m).startswith("Alerts you hold")]


def test_at_the_digest_instant_each_provider_holds_one_digest_of_its_references_and_is_chased_once(
        imap: Site, prefect_server: str) -> None:
    both, uhcw_only, swft_only = raise_three(imap)
    uhcw, swft, geh = imap.providers["UHCW"], imap.providers["SWFT"], imap.providers["GEH"]
    for address in (uhcw, swft):  # acknowledged, so only the digest is new at the digest instant
        for ref in (both, uhcw_only if address == uhcw else swft_only):
            email(imap, address, f"RE: {ref}", "Flagged.\n")
    assert run_intake(imap, 4)["recorded"] == 4
    day = next_digest_day(imap)
    reminders_at(imap, day)
    for address, mine, other in ((uhcw, (both, uhcw_only), swft_only), (swft, (both, swft_only), uhcw_only)):
        [digest] = digests(imap, address, 3)
        assert all(ref.encode() in digest for ref in mine) and other.encode() not in digest
    week = f"{day.isocalendar()[0]}W{day.isocalendar()[1]:02d}"
    email(imap, swft, f"CONFIRM HSA-DIGEST-{week}-SWFT", "Checked.\n")
    assert run_intake(imap, 1)["recorded"] == 1
    reminders_at(imap, CAL.add(day, 1))
    reminders_at(imap, CAL.add(day, 1))  # a second run the same morning sends nothing more
    chase = f"HSA-DIGEST-{week}-UHCW: please confirm the alerts you hold"
    assert subjects(imap, uhcw, 4).count(chase) == 1 and len(subjects(imap, uhcw, 4)) == 4
    assert not any("please confirm" in s for s in subjects(imap, swft, 3))
    assert imap.held(geh, 0, timeout=0) == []  # holds nothing: gets nothing
    assert leaked(prefect_server) == []


def test_seen_reaches_the_social_worker_team_manager_and_admin_team_in_one_intake_run(
        imap: Site, prefect_server: str) -> None:
    submit(imap, **{"Team manager email": team_manager(imap)})
    assert run_intake(imap, 1)["accepted"] == 1
    ref = f"HSA-{date.today().year}-000001"
    approve_through_prefect(1, ref)
    uhcw, geh = imap.providers["UHCW"], imap.providers["GEH"]
    email(imap, uhcw, f"SEEN {ref}", "When: today 14:20\nWhere: Emergency department\n")
    email(imap, geh, f"SEEN {ref}", "Where: ward 3\n")  # never sent the alert
    imap.deliver(samples.submission(uhcw, imap.mailbox, subject=f"SEEN {ref}", body="Where: x\n",
                                    authenticated=False), uhcw)
    counts = run_intake(imap, 3)
    assert (counts["recorded"], counts["quarantined"]) == (1, 2)
    seen = f"URGENT: {ref}: seen at UHCW"
    for address, expect in ((imap.social_worker, 3), (team_manager(imap), 1), (imap.admin, 3)):
        assert subjects(imap, address, expect).count(seen) == 1, address
    assert leaked(prefect_server, ("Emergency department",)) == []
