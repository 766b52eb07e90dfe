"""The admin team's dashboard as they see it: the `alerts-overview` artifact in the real Prefect UI,
in a real browser (Debian's headless Chromium, driven by Playwright).

A Prefect server with its UI (`prefect server start`), a Maildir mailbox and SQLite register through
the environment, and `safeguard intake --once` on two submissions: one alert opened, one form
answered with its problems. The browser opens Artifacts -> alerts-overview, which must show the
counts and the reference and none of the subjects' details. The screenshot is saved to
test-artifacts/alerts-overview.png.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from safeguard.adapters.mail.maildir import deliver
from testkit import samples
from tests.factories import text_submission, xlsx_submission
from tests.prefect_site import Site

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.prefect, pytest.mark.browser]


def test_the_alerts_overview_reads_as_a_dashboard_in_the_prefect_ui(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: scripts/dev test installs it (scripts/chromium.sh)")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    mail = tmp_path / "mail" / "safeguarding"
    for raw in (xlsx_submission(), text_submission(Urgency="Never")):
        deliver(mail, raw)
    site = Site(tmp_path, tmp_path / "config", {
        "SAFEGUARD_DATA_KEYS": os.environ["SAFEGUARD_DATA_KEYS"],
        "SAFEGUARD_HASH_KEY": os.environ["SAFEGUARD_HASH_KEY"],
        "SAFEGUARD_AUDIT_KEY": os.environ["SAFEGUARD_AUDIT_KEY"],
        "SAFEGUARD_MAILDIR": str(mail), "SAFEGUARD_DELIVER_TO": str(tmp_path / "mail" / "delivered"),
        "SAFEGUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'register.sqlite3'}"})
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        site.start_server()
        intake = site.safeguard("intake", "--once")
        assert intake.returncode == 0, intake.stdout[-2000:] + intake.stderr[-2000:]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1500})
                page.goto(f"{site.ui}/artifacts/key/alerts-overview")  # every version, newest first
                page.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).first.click()
                try:
                    page.get_by_text("Alerts by type and state").first.wait_for(timeout=60_000)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / "alerts-overview-failure.png"), full_page=True)
                    raise
                text = page.inner_text("body")
                page.screenshot(path=str(ARTIFACTS / "alerts-overview.png"), full_page=True)
            finally:
                browser.close()
    finally:
        site.stop()
    assert "Waiting for approval:" in text and "HSA-2026-000001" in text
    assert "Notices not yet acknowledged, by provider" in text
    assert samples.SUBJECT_SURNAME not in text
    assert (ARTIFACTS / "alerts-overview.png").stat().st_size > 10_000
