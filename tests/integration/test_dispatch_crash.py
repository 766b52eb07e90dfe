"""Kill the dispatching process (SIGKILL) between outbox write and send; running again must deliver
every notice exactly once, counted in the providers' own mailboxes on real Dovecot/Postfix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safeguard import samples
from safeguard.faults import DISPATCH_POINTS
from safeguard.register.crypto import KEY_VARIABLES
from tests.conftest import ROOT, subject_of
from tests.factories import fields, people
from tests.mailstack import StackConfig, read_inbox, smtp_deliver, stack_config

pytestmark = pytest.mark.mailstack


def cli(stack: StackConfig, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEGUARD_") or k in KEY_VARIABLES}
    env["SAFEGUARD_IMAP_PASSWORD"] = "test"
    if kill_at:
        env["SAFEGUARD_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "safeguard.cli", "--config", str(stack.directory), *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", DISPATCH_POINTS)
def test_a_kill_during_dispatch_still_delivers_every_notice_exactly_once(point: str, tmp_path: Path,
                                                                         register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    form = samples.xlsx_form(fields(**{"Social worker email": stack.social_worker}), people())
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, attachments=[("form.xlsx", form)]),
                 stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    assert cli(stack, "intake", "--once", "--without-prefect").returncode == 0
    killed = cli(stack, "approve", "HSA-2026-000001", "--by", "Dana Nightingale", kill_at=point)
    assert killed.returncode == -9, killed.stdout + killed.stderr  # it really died there
    again = cli(stack, "send-unsent")
    assert again.returncode == 0 and "Traceback" not in again.stdout + again.stderr
    time.sleep(0.5)  # a duplicate, had one been sent, would have arrived by now
    for code in ("UHCW", "SWFT"):
        held = [subject_of(m) for m in read_inbox(stack.providers[code], 1)]
        assert held == [f"HSA-2026-000001: HEALTH ALERT for {code}: Missing child (URGENT)"]
    for code in ("GEH", "CWPT", "WMAS", "BHAM"):
        assert read_inbox(stack.providers[code], 0, timeout=0) == []
    replies = sorted(subject_of(m) for m in read_inbox(stack.social_worker, 2))
    assert replies == ["HSA-2026-000001: approved and providers told",
                       "HSA-2026-000001: health alert received, awaiting approval"]
