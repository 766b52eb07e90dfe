"""Outages mid-batch, on the real stack: the mail server or the database stops part-way through an
intake run (cut at the second IMAP MOVE, through a proxy in front of Dovecot/Postfix/PostgreSQL),
the mail server refuses one provider's address, the Maildir's disk fills. Each time: no traceback,
plain words, and after the outage every message has exactly one outcome and one reply, and the
audit chain verifies."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testkit import samples
from tests.conftest import postgres_database, subject_of
from tests.cutproxy import CutProxy
from tests.factories import fields, people
from tests.integration.test_dispatch_crash import cli
from tests.mailstack import (
    HOST,
    IMAP_PORT,
    SMTP_PORT,
    StackConfig,
    left_in_inbox,
    read_inbox,
    smtp_deliver,
    stack_config,
)

pytestmark = pytest.mark.mailstack
BATCH = 5


@pytest.fixture
def proxies() -> Iterator[tuple[CutProxy, CutProxy]]:
    imap, smtp = CutProxy((HOST, IMAP_PORT)).start(), CutProxy((HOST, SMTP_PORT)).start()
    yield imap, smtp
    imap.close()
    smtp.close()


def through(stack: StackConfig, imap: CutProxy, smtp: CutProxy) -> StackConfig:
    """The product reaches Dovecot and Postfix through the proxies; the test reaches them directly."""
    path = stack.directory / "settings.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["mailbox"]["imap"].update(port=imap.port, smtp_port=smtp.port)
    path.write_text(yaml.safe_dump(settings))
    return stack


def submit_batch(stack: StackConfig) -> None:
    for n in range(BATCH):
        form = samples.xlsx_form(fields(**{"Social worker email": stack.social_worker,
                                           "Reason for alert": f"Missing since yesterday (case {n})."}),
                                 people())
        smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, subject=f"Health alert form {n}",
                                        attachments=[("form.xlsx", form)]),
                     stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, BATCH)


def plain(result: subprocess.CompletedProcess[str]) -> str:
    words = result.stdout + result.stderr
    assert "Traceback" not in words, words
    return words


def assert_each_answered_once(stack: StackConfig) -> None:
    time.sleep(0.5)  # a duplicate, had one been sent, would have arrived by now
    replies = [subject_of(m) for m in read_inbox(stack.social_worker, BATCH)]
    references = sorted(re.findall(r"HSA-2026-\d{6}", " ".join(replies)))
    assert len(replies) == BATCH and references == [f"HSA-2026-{n:06d}" for n in range(1, BATCH + 1)], replies
    assert left_in_inbox(stack.mailbox) == []  # every message filed
    assert cli(stack, "audit", "verify").returncode == 0


def test_the_mail_server_stopping_mid_batch_loses_and_repeats_nothing(
        tmp_path: Path, register_url: str, proxies: tuple[CutProxy, CutProxy]) -> None:
    imap, smtp = proxies
    stack = through(stack_config(tmp_path, register_url), imap, smtp)
    submit_batch(stack)
    smtp.cut_after(b"mail FROM:", 3, imap, smtp)  # two replies sent, the third not, none of the batch filed
    during = cli(stack, "intake", "--once", "--without-prefect")
    assert imap.down and smtp.down, (smtp.seen, smtp.port, during.stdout + during.stderr)
    words = plain(during)
    assert len(read_inbox(stack.social_worker, 1)) < BATCH  # it really stopped part-way
    assert "mail server" in words.lower() or "imap" in words.lower() or "next run" in words.lower(), words
    imap.restore()
    smtp.restore()
    plain(cli(stack, "intake", "--once", "--without-prefect"))
    plain(cli(stack, "send-unsent"))
    assert_each_answered_once(stack)


@pytest.mark.postgres
def test_the_database_stopping_mid_batch_loses_and_repeats_nothing(
        tmp_path: Path, proxies: tuple[CutProxy, CutProxy]) -> None:
    imap, smtp = proxies
    for url in postgres_database():
        host_port = re.search(r"@([^/]+)/", url)
        assert host_port is not None
        host, _, port = host_port.group(1).partition(":")
        database = CutProxy((host, int(port or 5432))).start()
        try:
            stack = through(stack_config(tmp_path,
                                         url.replace(host_port.group(1), f"127.0.0.1:{database.port}")),
                            imap, smtp)
            submit_batch(stack)
            imap.cut_after(b" APPEND ", 2, database)  # the database goes as the second reply is saved to Sent
            plain(cli(stack, "intake", "--once", "--without-prefect"))
            assert database.down
            database.restore()
            plain(cli(stack, "intake", "--once", "--without-prefect"))
            plain(cli(stack, "send-unsent"))
            assert_each_answered_once(stack)
        finally:
            database.close()


def test_a_provider_address_the_mail_server_refuses_fails_alone_and_the_admin_team_is_told(
        tmp_path: Path, register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    path = stack.directory / "providers.yaml"
    directory = yaml.safe_load(path.read_text())
    for provider in directory["providers"]:
        if provider["code"] == "SWFT":
            provider["mailbox"] = "refuse-" + provider["mailbox"]  # Postfix answers 5.1.1 for refuse-*
    path.write_text(yaml.safe_dump(directory))
    form = samples.xlsx_form(fields(**{"Social worker email": stack.social_worker}), people())
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, attachments=[("form.xlsx", form)]),
                 stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    plain(cli(stack, "intake", "--once", "--without-prefect"))
    plain(cli(stack, "approve", "HSA-2026-000001", "--by", "Dana Nightingale"))
    plain(cli(stack, "send-unsent"))
    time.sleep(0.5)
    held = [subject_of(m) for m in read_inbox(stack.providers["UHCW"], 1)]
    # the other one still went
    assert held == ["HSA-2026-000001: HEALTH ALERT for UHCW: Missing child (URGENT)"]
    told = [subject_of(m) for m in read_inbox(stack.admin, 1)]
    assert any("HSA-2026-000001" in s and ("not" in s.lower() or "fail" in s.lower()) for s in told), told


def test_a_full_disk_under_the_maildir_defers_and_then_answers_each_once(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill: {mounted.stderr.decode().strip()}")
    try:
        from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
        env = {"SAFEGUARD_MAILDIR": str(disk / "mail"), "SAFEGUARD_DELIVER_TO": str(disk / "delivered"),
               "SAFEGUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'register.sqlite3'}"}
        box = MaildirMailbox(disk / "mail", "safeguarding@example-icb.test")
        sender = fields()["Social worker email"]
        for n in range(3):
            form = samples.xlsx_form(fields(**{"Reason for alert": f"Missing since yesterday (case {n})."}),
                                     people())
            deliver(box.root, samples.submission(sender, box.address, subject=f"Health alert form {n}",
                                                 attachments=[("form.xlsx", form)]))
        filler = disk / "filler"
        with filler.open("wb") as f:  # fill every remaining byte
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        full = maildir_cli(env, "intake", "--once", "--without-prefect")
        words = plain(full)
        # Each form is in the register and its reply in the outbox before the message is filed; the
        # replies could not be written, so none has gone yet.
        assert box.folder_counts()["Sent"] == 0, words
        assert (not (disk / "delivered" / sender).exists()
                or not list((disk / "delivered" / sender / "new").iterdir()))
        filler.unlink()
        plain(maildir_cli(env, "intake", "--once", "--without-prefect"))
        plain(maildir_cli(env, "send-unsent"))
        counts = box.folder_counts()
        assert counts["INBOX"] == 0 and counts["Processed"] == 3
        delivered = list((disk / "delivered" / sender / "new").iterdir())
        assert len(delivered) == 3, [subject_of(p.read_bytes()) for p in delivered]  # one reply each
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


def maildir_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    from safeguard.adapters.register.crypto import KEY_VARIABLES
    from tests.conftest import ROOT
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAFEGUARD_") or k in KEY_VARIABLES}
    return subprocess.run([sys.executable, "-m", "cli.main", "--config", str(ROOT / "config"), *args],
                          env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120)
