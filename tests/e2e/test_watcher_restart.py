"""The mailbox watcher as a site runs it (`prefect server start`, `safeguard serve`, Dovecot/Postfix):
its process is killed outright, the next scheduled intake run takes over and the admin team is
emailed, and a submission sent afterwards is answered."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from safeguard.adapters.register.db import make_engine, migrate
from testkit import samples
from tests.conftest import subject_of
from tests.factories import fields, people
from tests.mailstack import read_inbox, smtp_deliver, stack_config
from tests.prefect_site import running_site, wait_for

pytestmark = [pytest.mark.mailstack, pytest.mark.prefect]


def lease(register: str) -> dict[str, object] | None:
    engine = create_engine(register)
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT value FROM mailbox_state WHERE name = :name"),
                                 {"name": "intake-watcher"}).scalar()
    finally:
        engine.dispose()
    return json.loads(value) if value else None


def test_a_killed_watcher_is_replaced_by_the_next_run_and_the_admin_team_told(tmp_path: Path) -> None:
    register = f"sqlite:///{tmp_path / 'register.sqlite3'}"
    config = stack_config(tmp_path, register)
    engine = make_engine(register)
    migrate(engine)  # the register exists before the first run, so the lease can be read at any time
    engine.dispose()
    secrets = {"SAFEGUARD_DATA_KEYS": os.environ["SAFEGUARD_DATA_KEYS"],
               "SAFEGUARD_HASH_KEY": os.environ["SAFEGUARD_HASH_KEY"],
               "SAFEGUARD_AUDIT_KEY": os.environ["SAFEGUARD_AUDIT_KEY"], "SAFEGUARD_IMAP_PASSWORD": "test"}
    with running_site(tmp_path, config.directory, secrets) as site:
        first = wait_for("a watcher", lambda: (lease(register) or {}).get("pid") and lease(register), 150,
                         site.logs)
        os.kill(int(first["pid"]), signal.SIGKILL)  # no hand-over, no hook: the process is simply gone
        wait_for("the next run to take over", lambda: (lease(register) or {}).get("holder") not in
                 (None, "", first["holder"]), 150, site.logs)
        told = read_inbox(config.admin, 1, timeout=60)
        assert [subject_of(m) for m in told] == ["The mailbox watcher stopped and has been restarted"]
        assert str(first["holder"]) in told[0].decode(errors="replace")  # the link names the run that stopped
        sender = config.social_worker
        smtp_deliver(samples.submission(sender, config.mailbox, attachments=[
            ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": sender}), people()))]),
            config.mailbox, sender)
        assert len(read_inbox(sender, 1, timeout=60)) == 1  # watched again: answered in seconds
