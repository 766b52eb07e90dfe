"""Kill the dispatching process (SIGKILL) between outbox write and send; running again must deliver
every notice exactly once, counted in the providers' own mailboxes on real Dovecot/Postfix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safeguard.adapters.register.crypto import KEY_VARIABLES
from safeguard.faults import DISPATCH_POINTS, POINTS
from testkit import samples
from tests.conftest import ROOT, subject_of
from tests.factories import fields, people
from tests.mailstack import StackConfig, folder_message_ids, read_inbox, smtp_deliver, stack_config

pytestmark = pytest.mark.mailstack


def cli(stack: StackConfig, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEGUARD_") or k in KEY_VARIABLES}
    env["SAFEGUARD_IMAP_PASSWORD"] = "test"
    if kill_at:
        env["SAFEGUARD_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "cli.main", "--config", str(stack.directory), *args],
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
    assert_one_copy_of_each_in_sent(stack)


def assert_one_copy_of_each_in_sent(stack: StackConfig) -> None:
    """The mailbox's own copies of what it sent (it is one more SMTP recipient of each, so that an
    email sent just before a kill, before its copy was APPENDed to Sent, is not sent again) are
    filed by the next intake: INBOX empty, and Sent holds every email once."""
    assert cli(stack, "intake", "--once", "--without-prefect").returncode == 0
    assert folder_message_ids(stack.mailbox, "INBOX") == []
    sent = folder_message_ids(stack.mailbox, "Sent")
    assert sent and len(sent) == len(set(sent)), sent


def approved_alert(stack: StackConfig) -> None:
    form = samples.xlsx_form(fields(**{"Social worker email": stack.social_worker}), people())
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, attachments=[("form.xlsx", form)]),
                 stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    assert cli(stack, "intake", "--once", "--without-prefect").returncode == 0
    assert cli(stack, "approve", "HSA-2026-000001", "--by", "Dana Nightingale").returncode == 0


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_while_withdrawing_still_withdraws_from_each_provider_exactly_once(point: str, tmp_path: Path,
                                                                                 register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    approved_alert(stack)
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, subject="WITHDRAW HSA-2026-000001",
                                    body="Reason: Found\n"), stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    assert cli(stack, "intake", "--once", "--without-prefect", kill_at=point).returncode == -9
    again = cli(stack, "intake", "--once", "--without-prefect")
    assert again.returncode == 0, again.stderr
    decided = cli(stack, "approve", "HSA-2026-000001", "--withdrawal", "--by", "Dana Nightingale")
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert_withdrawn_once(stack)


@pytest.mark.parametrize("point", DISPATCH_POINTS[:4])
def test_a_kill_while_approving_a_withdrawal_still_withdraws_from_each_provider_exactly_once(
        point: str, tmp_path: Path) -> None:
    stack = stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}")
    approved_alert(stack)
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, subject="WITHDRAW HSA-2026-000001",
                                    body="Reason: Found\n"), stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    assert cli(stack, "intake", "--once", "--without-prefect").returncode == 0
    approve = ("approve", "HSA-2026-000001", "--withdrawal", "--by", "Dana Nightingale")
    assert cli(stack, *approve, kill_at=point).returncode == -9
    again = cli(stack, *approve)  # refused (already decided), but it sends what the killed run left
    assert again.returncode == 1 and "already approved by Dana Nightingale" in again.stderr, again.stderr
    assert_withdrawn_once(stack)


def assert_withdrawn_once(stack: StackConfig) -> None:
    time.sleep(0.5)
    for code in ("UHCW", "SWFT"):
        held = sorted(subject_of(m) for m in read_inbox(stack.providers[code], 2))
        assert held == [f"HSA-2026-000001: HEALTH ALERT for {code}: Missing child (URGENT)",
                        f"HSA-2026-000001: health alert WITHDRAWN for {code}"]
    confirmations = [subject_of(m) for m in read_inbox(stack.social_worker, 4)]
    assert confirmations.count("HSA-2026-000001: withdrawal request received") == 1
    assert confirmations.count("HSA-2026-000001: withdrawn") == 1


@pytest.mark.parametrize("point", ("before_send#1", "after_send#1", "after_send#2"))
def test_a_kill_while_sending_reminders_still_chases_each_provider_exactly_once(point: str, tmp_path: Path,
                                                                              register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    approved_alert(stack)
    moment = "2099-01-06T08:00"  # a Tuesday, long after: every provider is due a chase and an escalation
    assert cli(stack, "reminders", "--now", moment, "--without-prefect", kill_at=point).returncode == -9
    again = cli(stack, "reminders", "--now", moment, "--without-prefect")
    assert again.returncode == 0, again.stderr
    assert cli(stack, "send-unsent").returncode == 0
    time.sleep(0.5)
    for code in ("UHCW", "SWFT"):
        chases = [subject_of(m) for m in read_inbox(stack.providers[code], 2)]
        assert chases.count(f"HSA-2026-000001: please acknowledge the health alert sent to {code}") == 1


def test_two_intake_processes_at_once_on_one_mailbox_handle_each_message_once(tmp_path: Path,
                                                                            register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    senders = [f"sw{n}-{stack.social_worker}" for n in range(12)]
    for sender in senders:
        form = samples.xlsx_form(fields(**{"Social worker email": sender}), people())
        smtp_deliver(samples.submission(sender, stack.mailbox, attachments=[("form.xlsx", form)]),
                     stack.mailbox, sender)
    read_inbox(stack.mailbox, len(senders))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEGUARD_") or k in KEY_VARIABLES}
    env["SAFEGUARD_IMAP_PASSWORD"] = "test"
    command = [sys.executable, "-m", "cli.main", "--config", str(stack.directory), "intake", "--once",
               "--without-prefect"]
    workers = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    outputs = [w.communicate(timeout=180) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    time.sleep(0.5)
    for sender in senders:
        replies = [subject_of(m) for m in read_inbox(sender, 1)]
        assert len(replies) == 1 and replies[0].endswith("health alert received, awaiting approval"), replies
    from sqlalchemy import func, select

    from safeguard.adapters.register.audit import verify_session
    from safeguard.adapters.register.db import make_engine
    from safeguard.adapters.register.orm import Alert, InboundMessage
    from safeguard.adapters.register.uow import uow_factory
    engine = make_engine(register_url)
    with uow_factory(engine)() as u:
        assert u.session.scalar(select(func.count()).select_from(InboundMessage)) == len(senders)
        assert (sorted(u.session.scalars(select(Alert.reference)))
                == [f"HSA-2026-{n:06d}" for n in range(1, 13)])
        assert verify_session(u.session).ok
    engine.dispose()


def test_two_reminder_processes_at_once_chase_each_provider_once(tmp_path: Path, register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    approved_alert(stack)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEGUARD_") or k in KEY_VARIABLES}
    env["SAFEGUARD_IMAP_PASSWORD"] = "test"
    # a Tuesday long after: a chase and an escalation each
    command = [sys.executable, "-m", "cli.main", "--config", str(stack.directory), "reminders", "--now",
               "2099-01-06T08:00", "--without-prefect"]
    workers = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    outputs = [w.communicate(timeout=180) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert cli(stack, "send-unsent").returncode == 0
    time.sleep(0.5)
    for code in ("UHCW", "SWFT"):
        chases = [subject_of(m) for m in read_inbox(stack.providers[code], 2)]
        assert chases.count(
            f"HSA-2026-000001: please acknowledge the health alert sent to {code}") == 1, chases
    escalations = [subject_of(m) for m in read_inbox(stack.admin, 1)]
    assert len(escalations) == len(set(escalations)), escalations  # nothing told twice
