"""The approval as the admin team gives it: in the real Prefect UI, in a real browser.

Everything runs as it would on a site: a Prefect server with its UI (`prefect server start`),
`safeguard serve` running the deployments of prefect.yaml, the mailbox on real Dovecot/Postfix,
and `safeguard intake --once`. Headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) opens the Runs page, finds the waiting alert run by its reference (suspended: no
process is held while it waits), opens the Resume form, chooses "approve", chooses the approver from
the list of approvers (no free text), picks SWFT from the list of the form's providers to leave it
out, types a note, and submits. The notice must then arrive in UHCW's own mailbox and nowhere else,
and the Prefect database must hold none of the subjects' details nor the note. A screenshot of the
filled form is saved to test-artifacts/approval-form.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.factories import fields, people
from tests.mailstack import StackConfig, read_inbox, smtp_deliver, stack_config
from tests.prefect_site import Site, running_site, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
NOTE = "Sentinel-note-Quillhaven"
REFERENCE = "HSA-2026-000001"

pytestmark = [pytest.mark.mailstack, pytest.mark.prefect, pytest.mark.browser]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[StackConfig, Site]]:
    """A Prefect server with its UI, and `safeguard serve` running the deployments against it."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: scripts/dev test installs it (scripts/chromium.sh)")
    config = stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}")
    secrets = {"SAFEGUARD_DATA_KEYS": os.environ["SAFEGUARD_DATA_KEYS"],
               "SAFEGUARD_HASH_KEY": os.environ["SAFEGUARD_HASH_KEY"],
               "SAFEGUARD_AUDIT_KEY": os.environ["SAFEGUARD_AUDIT_KEY"], "SAFEGUARD_IMAP_PASSWORD": "test"}
    with running_site(tmp_path, config.directory, secrets) as running:
        yield config, running


def _paused(site: Site) -> dict[str, object] | None:
    return next(iter(site.runs(f"{REFERENCE} v1", "PAUSED")), None)  # Suspended is a kind of Paused


def test_an_alert_is_approved_in_the_prefect_ui_and_the_notices_arrive(
        site: tuple[StackConfig, Site]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    config, running = site
    # The server's scheduler turns the cron schedules into runs (with SQLAlchemy 2.1 it could not)
    wait_for("the scheduler to plan intake runs", lambda: running.runs(flow="intake"), 60, running.logs)
    sender = config.social_worker
    smtp_deliver(samples.submission(sender, config.mailbox, attachments=[
        ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": sender}), people()))]),
        config.mailbox, sender)
    read_inbox(config.mailbox, 1)
    intake = running.safeguard("intake", "--once")
    assert intake.returncode == 0, intake.stdout[-2000:] + intake.stderr[-2000:]
    paused = wait_for("the approval run to pause", lambda: _paused(running), 120, running.logs)
    wait_for("the approval form to be saved", lambda: httpx.get(  # Prefect saves it just after suspending
        f"{running.api}/flow_runs/{paused['id']}/input/suspended-1-schema").status_code == 200, 30,
        running.logs)

    ARTIFACTS.mkdir(exist_ok=True)
    steps: list = []  # type: ignore[type-arg]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            steps.append(page)
            page.goto(f"{running.ui}/runs")
            # the admin finds the run by the alert's reference
            page.get_by_text(f"{REFERENCE} v1").first.click()
            page.wait_for_load_state("networkidle")
            form = page.get_by_role("dialog")
            # a Resume clicked before the run's details load opens a plain "resume?" dialog
            for _ in range(5):
                page.get_by_role("button", name="Resume").click()
                try:
                    form.get_by_text("Approver Name").wait_for(timeout=5000)
                    break
                except PlaywrightTimeout:
                    form.get_by_role("button", name="Close").click()
                    page.reload()
                    page.wait_for_load_state("networkidle")
            text = form.inner_text()
            assert REFERENCE in text and samples.SUBJECT_SURNAME not in text
            # Decision: in this UI version a click in the middle of the box does not open its list;
            # a click on the arrows at its right does (the README tells the admin team so)
            lists = form.locator(".p-select-button__icon")  # Decision, Approver Name, Leave Out
            lists.nth(0).click()
            page.get_by_role("option", name="approve", exact=True).click()
            lists.nth(1).click()
            assert page.get_by_role("option", name="Sam Okafor", exact=True).count() == 1  # those listed
            page.get_by_role("option", name="Dana Nightingale", exact=True).click()
            lists.nth(2).click()
            assert page.get_by_role("option", name="WMAS", exact=True).count() == 0  # the form's only
            page.get_by_role("option", name="SWFT", exact=True).click()
            page.keyboard.press("Escape")
            boxes = form.locator("textarea")  # Reason, Note
            boxes.nth(1).fill(NOTE)
            page.screenshot(path=str(ARTIFACTS / "approval-form.png"))
            form.get_by_role("button", name="Submit").click()
            wait_for("the run to finish", lambda: running.runs(f"{REFERENCE} v1", "COMPLETED"), 90,
                     running.logs)
        except Exception:
            steps[-1].screenshot(path=str(ARTIFACTS / "approval-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    held = read_inbox(config.providers["UHCW"], 1, timeout=30)  # the form asked for UHCW and SWFT
    assert [subject_of(m).startswith(f"{REFERENCE}: HEALTH ALERT for UHCW:") for m in held] == [True], \
        ([subject_of(m) for m in held], running.logs[1].read_text(errors="replace")[-4000:])
    for code in ("SWFT", "WMAS"):  # left out by the approver; never asked for
        assert read_inbox(config.providers[code], 0, timeout=2) == []
    assert leaked(running.database, (NOTE,)) == []
    assert (ARTIFACTS / "approval-form.png").stat().st_size > 10_000
