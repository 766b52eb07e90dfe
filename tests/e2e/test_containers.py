"""Two worker hosts as containers, one killed mid-batch (issue: runs as containers on more than one
host). The image is the one scripts/container-image.sh builds (the test command builds it first).

On this machine: the Prefect server (`prefect server start`), one PostgreSQL register, Dovecot and
Postfix. The pool and the deployments of prefect.yaml are created from a one-off container, as
compose.yaml's `deploy` service does; then two containers, host names worker-a and worker-b, each
run `prefect worker start` on the process pool. 50 social workers' submissions arrive; every one is
answered; the listed approver approves all 50 by email; while the notices are going out, the
container holding the mailbox watcher is killed (SIGKILL). The other host takes over, and in the end
every submission has exactly one answer and every hospital exactly one notice per alert, counted in
the real mailboxes; the killed container's run is marked Crashed in Prefect, not left Running.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import yaml

from safeguard.adapters.register.db import make_engine, migrate
from testkit import samples
from tests import containers
from tests.conftest import ROOT, postgres_database, subject_of
from tests.e2e.test_watcher_restart import lease
from tests.factories import fields, people
from tests.mailstack import read_inbox, smtp_deliver, stack_config
from tests.prefect_site import Site

pytestmark = [pytest.mark.containers, pytest.mark.postgres, pytest.mark.mailstack, pytest.mark.prefect]
SUBMISSIONS = 50
ARTIFACTS = ROOT / "test-artifacts"
REFERENCE = re.compile(r"HSA-\d{4}-\d{6}")
CODE = re.compile(r"APPROVE (HSA-\d{4}-\d{6}) ([A-Z0-9]{8})")


@pytest.fixture(scope="module")
def image() -> str:
    return containers.build_image()


@pytest.fixture
def register() -> Iterator[str]:
    yield from postgres_database()


@pytest.fixture
def prefect_database() -> Iterator[str]:
    """The Prefect server's own PostgreSQL database, as compose.yaml's prefect-db: its SQLite, beside
    two workers' heartbeats, events and automations on a loaded machine, answered "database is locked"."""
    for url in postgres_database():
        yield url.replace("postgresql+psycopg://", "postgresql+asyncpg://")


def lease_host(register: str) -> str | None:
    host = (lease(register) or {}).get("host")
    return str(host) if host else None


def subjects(address: str, expect: int = 0, timeout: float = 0) -> Counter[str]:
    """How many emails in this mailbox carry each subject."""
    return Counter(subject_of(raw) for raw in read_inbox(address, expect, timeout=timeout))


def codes(address: str, expect: int = 0, timeout: float = 0) -> dict[str, str]:
    """The one-time code in each approval request in this mailbox, by reference."""
    found: dict[str, str] = {}
    for raw in read_inbox(address, expect, timeout=timeout):
        if (m := CODE.search(plain(raw))) is not None:
            found.setdefault(m.group(1), m.group(2))
    return found


def plain(raw: bytes) -> str:
    message = message_from_bytes(raw)
    part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), None)
    payload = part.get_payload(decode=True) if part is not None else b""
    return payload.decode(errors="replace") if isinstance(payload, bytes) else ""


def until(what: str, check: Callable[[], Any], seconds: float, names: list[str], pause: float = 1) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}\n{containers.tails(names)}")


def test_two_worker_containers_one_killed_mid_batch_lose_and_repeat_nothing(
        image: str, register: str, prefect_database: str, tmp_path: Path) -> None:
    stack = stack_config(tmp_path, register)
    settings = yaml.safe_load((stack.directory / "settings.yaml").read_text())
    settings["failover"] = {"heartbeat_seconds": 2, "lease_seconds": 10}  # the test's patience, not a site's
    (stack.directory / "settings.yaml").write_text(yaml.safe_dump(settings))
    for path in [stack.directory, *stack.directory.rglob("*")]:  # the containers' user reads it
        path.chmod(0o755 if path.is_dir() else 0o644)
    engine = make_engine(register)
    migrate(engine)  # so the lease can be read from the start (the workers would migrate it themselves)
    engine.dispose()
    secrets = {"SAFEGUARD_DATA_KEYS": os.environ["SAFEGUARD_DATA_KEYS"],
               "SAFEGUARD_HASH_KEY": os.environ["SAFEGUARD_HASH_KEY"],
               "SAFEGUARD_AUDIT_KEY": os.environ["SAFEGUARD_AUDIT_KEY"], "SAFEGUARD_IMAP_PASSWORD": "test"}
    site = Site(tmp_path / "site", stack.directory, secrets)
    site.home.mkdir()
    tag = uuid.uuid4().hex[:6]
    names = [f"worker-a-{tag}", f"worker-b-{tag}"]
    env = {**secrets, "PREFECT_API_URL": site.api, "PREFECT_WORKER_QUERY_SECONDS": "2"}
    site.env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database
    try:
        site.start_server()
        containers.run_once(image, f"deploy-{tag}", stack.directory, env, "sh", "-c",
                            "prefect work-pool create safeguard-process --type process --overwrite"
                            " && prefect --no-prompt deploy --all && safeguard prefect setup")
        for name in names:
            containers.run_detached(image, name, stack.directory, env, "prefect", "worker", "start",
                                    "--pool", "safeguard-process", "--type", "process", "--name", name,
                                    "--limit", "8")
        until("a watcher on one of the worker containers", lambda: lease_host(register) in names, 240, names)

        senders = [f"sw{i}-{tag}@coventry-council.test" for i in range(SUBMISSIONS)]
        for sender in senders:
            form = samples.xlsx_form(fields(**{"Social worker email": sender}), people())
            smtp_deliver(samples.submission(sender, stack.mailbox, attachments=[("form.xlsx", form)]),
                         stack.mailbox, sender)
        until("every submission answered", lambda: all(subjects(s) for s in senders), 300, names)
        asked = until("every approval request", lambda: len(found := codes(stack.approver)) == SUBMISSIONS
                      and found, 300, names)
        assert {REFERENCE.search(next(iter(subjects(s)))).group(0) for s in senders} == set(asked)  # type: ignore[union-attr]

        for reference, code in asked.items():  # the approver answers all 50 at once
            approval = samples.submission(stack.approver, stack.mailbox,
                                          subject=f"APPROVE {reference} {code}",
                                          body="Approved.\n")
            smtp_deliver(approval, stack.mailbox, stack.approver)
        uhcw, swft = stack.providers["UHCW"], stack.providers["SWFT"]
        until("the first notices", lambda: sum(subjects(uhcw).values()) >= 3, 300, names, pause=0.2)
        watcher = lease(register) or {}
        victim, lost_run = str(watcher.get("host")), str(watcher.get("holder"))
        assert victim in names
        containers.kill(victim)  # mid-batch: no hand-over, no clean-up
        killed = time.monotonic()
        sent_before = sum(subjects(uhcw).values())
        assert sent_before < SUBMISSIONS, "every notice had gone before the kill: the test proved nothing"

        survivor = next(n for n in names if n != victim)
        for mailbox in (uhcw, swft):
            until(f"every notice in {mailbox}",
                  lambda m=mailbox: sum(subjects(m).values()) >= SUBMISSIONS, 600, names)
        all_sent = time.monotonic() - killed
        until("the survivor watching", lambda: lease_host(register) == survivor, 120, names)
        until("every sender told the alert went out",
              lambda: all(len(subjects(s)) == 2 for s in senders), 300, names)
        time.sleep(5)  # nothing more arrives late
        for mailbox in (uhcw, swft):  # every notice exactly once: one per alert, none twice
            held = subjects(mailbox)
            assert set(held.values()) == {1}, held
            assert {REFERENCE.search(s).group(0) for s in held} == set(asked)  # type: ignore[union-attr]
        # the killed container's watcher run: marked Crashed by the automation `safeguard prefect setup`
        # made, once its heartbeats stopped (not left Running for ever)
        until("the lost run marked crashed",
              lambda: (site.runs_by_id(lost_run) or {}).get("type") == "CRASHED", 240, names, pause=5)
        for sender in senders:  # received, then approved and providers told: each once
            told = subjects(sender)
            assert len(told) == 2 and set(told.values()) == {1}, told
        assert Counter(codes(stack.approver)) and len(subjects(stack.approver)) == 2 * SUBMISSIONS
        assert set(subjects(stack.approver).values()) == {1}
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "containers-failover.json").write_text(json.dumps({
            "killed": victim, "uhcw_notices_before_the_kill": sent_before, "of": SUBMISSIONS,
            "seconds_from_the_kill_to_every_notice": round(all_sent, 1)}, indent=2))
    finally:
        for name in [*names, f"deploy-{tag}"]:
            containers.remove(name)
        site.stop()
