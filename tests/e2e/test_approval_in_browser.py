"""The approval as the admin team gives it: in the real Prefect UI, in a real browser.

Everything runs as it would on a site: a Prefect server with its UI (`prefect server start`),
`safeguard serve` running the deployments of prefect.yaml, the mailbox on real Dovecot/Postfix,
and `safeguard intake --once`. Headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) opens the Runs page, finds the paused alert run by its reference, opens the Resume
form, chooses "approve", types a name and a note, and submits. The notices must then arrive in each
provider's own mailbox, and the Prefect database must hold none of the subjects' details nor the
note. A screenshot of the filled form is saved to test-artifacts/approval-form.png.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeguard import samples
from tests.conftest import subject_of
from tests.e2e.prefect_db import leaked
from tests.factories import fields, people
from tests.mailstack import read_inbox, smtp_deliver, stack_config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
NOTE = "Sentinel-note-Quillhaven"
REFERENCE = "HSA-2026-000001"

pytestmark = [pytest.mark.mailstack, pytest.mark.prefect, pytest.mark.browser]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait(what: str, check: object, seconds: float, logs: list[Path]) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()  # type: ignore[operator]
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[object, str, dict[str, str], list[Path]]]:
    """A Prefect server with its UI, and `safeguard serve` running the deployments against it."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: scripts/dev test installs it (scripts/chromium.sh)")
    config = stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEGUARD_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
               SAFEGUARD_DATA_KEYS=os.environ["SAFEGUARD_DATA_KEYS"], SAFEGUARD_HASH_KEY=os.environ[
                   "SAFEGUARD_HASH_KEY"], SAFEGUARD_CONFIG=str(config.directory), SAFEGUARD_IMAP_PASSWORD="test")
    bin_dir = Path(sys.executable).parent
    logs = [tmp_path / "prefect-server.log", tmp_path / "serve.log"]
    server = _start([str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                    {**env, "PREFECT_UI_API_URL": api}, logs[0])  # else the UI calls port 4200
    serve = None
    try:
        _wait("the Prefect server", lambda: httpx.get(f"{api}/health").status_code == 200, 120, logs)
        env["PREFECT_API_URL"] = api
        serve = _start([str(bin_dir / "safeguard"), "serve"], env, logs[1])
        _wait("safeguard serve's deployments", lambda: httpx.get(
            f"{api}/deployments/name/alert-approval/approval").status_code == 200, 120, logs)
        yield config, api, env, logs
    finally:
        if serve is not None:
            _stop(serve)
        _stop(server)


def _run(api: str, name: str, state: str) -> dict[str, object] | None:
    runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {"name": {"any_": [name]}}}).json()
    return next((r for r in runs if r["state"] and r["state"]["type"] == state), None)


def test_an_alert_is_approved_in_the_prefect_ui_and_the_notices_arrive(site: tuple) -> None:  # type: ignore[type-arg]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    config, api, env, logs = site
    sender = config.social_worker
    smtp_deliver(samples.submission(sender, config.mailbox, attachments=[
        ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": sender}), people()))]),
        config.mailbox, sender)
    read_inbox(config.mailbox, 1)
    intake = subprocess.run([str(Path(sys.executable).parent / "safeguard"), "intake", "--once"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=180)
    assert intake.returncode == 0, intake.stdout[-2000:] + intake.stderr[-2000:]
    paused = _wait("the approval run to pause", lambda: _run(api, f"{REFERENCE} v1", "PAUSED"), 120, logs)
    _wait("the approval form to be saved", lambda: httpx.get(  # Prefect saves it just after pausing
        f"{api}/flow_runs/{paused['id']}/input/paused-1-schema").status_code == 200, 30, logs)  # type: ignore[index]
    ui = api.removesuffix("/api")

    ARTIFACTS.mkdir(exist_ok=True)
    steps: list = []  # type: ignore[type-arg]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:  # noqa: SIM105
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            steps.append(page)
            page.goto(f"{ui}/runs")
            page.get_by_text(f"{REFERENCE} v1").first.click()  # the admin finds the run by the alert's reference
            page.wait_for_load_state("networkidle")
            form = page.get_by_role("dialog")
            for _ in range(5):  # a Resume clicked before the run's details load opens a plain "resume?" dialog
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
            form.locator(".p-select-button__control").first.focus()  # Decision
            page.keyboard.press("ArrowDown")
            page.get_by_role("option", name="approve", exact=True).click()
            boxes = form.locator("textarea")  # Approver name, Reason, Note (Leave out is a list)
            boxes.nth(0).fill("Dana Nightingale")
            boxes.nth(2).fill(NOTE)
            page.screenshot(path=str(ARTIFACTS / "approval-form.png"))
            form.get_by_role("button", name="Submit").click()
            _wait("the run to finish", lambda: _run(api, f"{REFERENCE} v1", "COMPLETED"), 90, logs)
        except Exception:
            steps[-1].screenshot(path=str(ARTIFACTS / "approval-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    for code in ("UHCW", "SWFT"):  # the providers the form asked for
        held = read_inbox(config.providers[code], 1, timeout=30)
        assert [subject_of(m).startswith(f"{REFERENCE}: HEALTH ALERT for {code}:") for m in held] == [True], \
            (code, [subject_of(m) for m in held], logs[1].read_text(errors="replace")[-4000:])
    assert read_inbox(config.providers["WMAS"], 0, timeout=0) == []
    assert leaked(f"sqlite:///{Path(env['PREFECT_HOME']) / 'prefect.db'}", (NOTE,)) == []
    assert (ARTIFACTS / "approval-form.png").stat().st_size > 10_000
