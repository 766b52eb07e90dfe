"""A send whose answer is lost (the server sent the mail, then the connection dropped) must not be
sent again: the outbox looks in Sent Items before any second attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from testkit import samples
from tests.factories import fields, people
from tests.graphsim import GraphSim
from tests.mailstack import stack_config


def test_a_reply_whose_send_answer_was_lost_arrives_once(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_GRAPH_CLIENT_SECRET", "s3cret")
    sim = GraphSim(mailbox="")
    server = sim.start()
    try:
        site = stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}", graph_url=sim.url)
        sim.mailbox = site.mailbox
        sender = site.social_worker
        sim.deliver(samples.submission(sender, site.mailbox, attachments=[
            ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": sender}), people()))]))
        sim.faults.lose_send_answer = 1
        main(["--config", str(site.directory), "intake", "--once", "--without-prefect"])
        assert len(sim.sent_to(sender)) == 1  # Graph sent it, but we never heard so
        main(["--config", str(site.directory), "send-unsent"])
        main(["--config", str(site.directory), "send-unsent"])
        assert len(sim.sent_to(sender)) == 1
        approvers = 2  # each is sent one approval-needed email (tests/mailstack.py)
        assert sum(path.endswith("/sendMail") for _, path in sim.requests) == 1 + approvers  # never twice
        assert sim.sent_to(site.admin) == []  # and not reported to the admin team as failed
    finally:
        server.shutdown()


def test_a_throttled_send_is_retried_whole() -> None:
    """A retry must carry the same headers as the first try (Graph reads the MIME by its Content-Type)."""
    from safeguard.adapters.mail.graph import GraphMailbox, GraphSettings, MemoryState
    sim = GraphSim(mailbox="safeguarding@example-icb.test")
    server = sim.start()
    try:
        box = GraphMailbox(GraphSettings(address=sim.mailbox, tenant_id=sim.tenant, client_id=sim.client_id,
                                         client_secret=sim.secret, authority=sim.url,
                                         graph_url=f"{sim.url}/v1.0"),
                           MemoryState(), sleep=lambda _: None)
        box.folder_counts()  # signed in
        sim.faults.throttle = 1
        box.send(b"From: a@example-icb.test\r\nTo: b@uhcw.test\r\nMessage-ID: <t1@x>\r\n\r\nhi\r\n",
                 message_id="<t1@x>", recipients=["b@uhcw.test"])
        assert len(sim.sent_to("b@uhcw.test")) == 1
    finally:
        server.shutdown()
