"""One contract for the mailbox port, run against every adapter: Maildir, IMAP+SMTP on real
Dovecot/Postfix, and Microsoft Graph over real HTTP against the protocol-level test server.
(EWS is not built yet: see the Exchange issue.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeguard import samples
from safeguard.mail.graph import GraphMailbox, GraphSettings, MemoryState
from safeguard.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings
from safeguard.mail.inbound import parse_inbound
from safeguard.mail.maildir import MaildirMailbox, deliver
from safeguard.mail.port import Folder, Mailbox, PermanentMailboxError, TemporaryMailboxError
from tests.graphsim import GraphSim
from tests.mailstack import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, read_inbox, smtp_deliver

SENDER = "tamsin.holloway@coventry-council.test"


@dataclass
class Harness:
    name: str
    box: Mailbox
    put: Callable[[bytes], None]
    reopen: Callable[[], Mailbox]
    received_by: Callable[[str, int], list[bytes]]
    sim: GraphSim | None = None
    slept: list[float] = field(default_factory=list)


def graph_box(sim: GraphSim, state: MemoryState, slept: list[float], **overrides: str) -> GraphMailbox:
    settings = GraphSettings(address=sim.mailbox, tenant_id=sim.tenant, client_id=sim.client_id,
                             client_secret=sim.secret, authority=sim.url, graph_url=f"{sim.url}/v1.0")
    settings = GraphSettings(**{**settings.__dict__, **overrides})
    return GraphMailbox(settings, state, sleep=slept.append)


@pytest.fixture(params=["maildir", pytest.param("imap", marks=pytest.mark.mailstack), "graph"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    address = f"safeguarding-{uuid.uuid4().hex[:8]}@example-icb.test"
    if request.param == "maildir":
        def open_box() -> Mailbox:
            return MaildirMailbox(tmp_path / "mail", address, tmp_path / "delivered")

        def received(to: str, n: int) -> list[bytes]:
            folder = tmp_path / "delivered" / to / "new"
            return [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []
        box = open_box()
        yield Harness("maildir", box, lambda raw: deliver(tmp_path / "mail", raw) and None, open_box, received)
    elif request.param == "imap":
        def open_box() -> Mailbox:
            return ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                                    password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT))

        def put(raw: bytes) -> None:
            before = len(read_inbox(address, 0, timeout=0))
            smtp_deliver(raw, address, SENDER)
            read_inbox(address, before + 1)
        box = open_box()
        yield Harness("imap", box, put, open_box, lambda to, n: read_inbox(to, n))
        box.close()
    else:
        sim = GraphSim(mailbox=address)
        server = sim.start()
        state, slept = MemoryState(), []
        box = graph_box(sim, state, slept)
        yield Harness("graph", box, lambda raw: sim.deliver(raw) and None, lambda: graph_box(sim, state, slept),
                      lambda to, n: sim.sent_to(to), sim, slept)
        box.close()
        server.shutdown()


def submission(n: int = 0) -> bytes:
    return samples.submission(SENDER, "safeguarding@example-icb.test", subject=f"Health alert form {n}",
                              attachments=[("form.xlsx", b"PK\x03\x04 pretend spreadsheet " + bytes([n]) * 2000)])


def test_a_message_is_listed_and_read_with_its_attachment(harness: Harness) -> None:
    raw = submission(1)
    harness.put(raw)
    [mailbox_id] = harness.box.list_new()
    fetched = harness.box.fetch(mailbox_id)
    assert fetched is not None
    original, got = parse_inbound(raw), parse_inbound(fetched)
    assert got.message_id == original.message_id
    assert [(a.filename, a.data) for a in got.attachments] == [(a.filename, a.data) for a in original.attachments]


def test_moving_files_the_message_and_moving_again_is_not_an_error(harness: Harness) -> None:
    raw = submission(2)
    harness.put(raw)
    [mailbox_id] = harness.box.list_new()
    harness.box.move(mailbox_id, Folder.QUARANTINE)
    harness.box.move(mailbox_id, Folder.QUARANTINE)
    assert harness.box.list_new() == []
    assert harness.box.fetch(mailbox_id) is None
    assert harness.box.folder_counts()["Quarantine"] == 1
    assert parse_inbound(raw).message_id in harness.box.message_ids(Folder.QUARANTINE)


def test_sending_delivers_once_and_keeps_a_copy_in_sent(harness: Harness) -> None:
    to = f"someone-{uuid.uuid4().hex[:6]}@uhcw.test"
    message_id = f"<{uuid.uuid4().hex}@example-icb.test>"
    raw = (f"From: {harness.box.address}\r\nTo: {to}\r\nSubject: notice\r\nMessage-ID: {message_id}\r\n\r\n"
           "hello\r\n").encode()
    assert not harness.box.in_sent(message_id)
    harness.box.send(raw, message_id=message_id, recipients=[to])
    assert harness.box.in_sent(message_id)
    assert len(harness.received_by(to, 1)) == 1
    assert message_id in harness.box.message_ids(Folder.SENT)


def test_a_restart_neither_loses_nor_repeats_mail(harness: Harness) -> None:
    for n in range(3):
        harness.put(submission(10 + n))
    first = harness.box.list_new()
    assert len(first) == 3
    harness.box.move(first[0], Folder.PROCESSED)
    harness.box.close()
    box = harness.reopen()  # a new process: only the register's state survives
    assert sorted(box.list_new()) == sorted(first[1:])
    harness.put(submission(20))
    again = box.list_new()
    assert len(again) == 3 and set(first[1:]) <= set(again)
    for mailbox_id in again:
        box.move(mailbox_id, Folder.PROCESSED)
    box.close()
    assert harness.reopen().list_new() == []


def test_throttling_token_expiry_and_dropped_connections_are_ridden_out(harness: Harness) -> None:
    if harness.sim is None:
        pytest.skip(f"{harness.name} has no HTTP throttling to honour (its server refuses or queues instead)")
    sim = harness.sim
    harness.put(submission(30))
    sim.faults.throttle, sim.faults.retry_after = 2, "7"
    assert len(harness.box.list_new()) == 1
    assert harness.slept == [7.0, 7.0]  # Retry-After honoured, exactly
    sim.faults.expire_tokens = True
    sim.faults.unavailable = 1
    sim.faults.drop = 1
    [mailbox_id] = harness.box.list_new()
    assert harness.box.fetch(mailbox_id) is not None
    sim.faults.throttle = 99
    with pytest.raises(TemporaryMailboxError):
        harness.box.list_new()
    sim.faults.throttle = 0


def test_an_expired_delta_link_starts_afresh_without_loss(harness: Harness) -> None:
    if harness.sim is None:
        pytest.skip(f"{harness.name} keeps no sync state")
    harness.put(submission(40))
    [first] = harness.box.list_new()
    harness.box.move(first, Folder.PROCESSED)
    harness.put(submission(41))
    harness.sim.expire_delta_links()
    [second] = harness.box.list_new()
    assert second != first and harness.box.fetch(second) is not None


def test_graph_explains_configuration_faults_in_plain_words(tmp_path: Path) -> None:
    sim = GraphSim(mailbox="safeguarding@example-icb.test")
    server = sim.start()
    try:
        for overrides, words in (({"tenant_id": "wrong"}, "tenant id is wrong"),
                                 ({"client_secret": "nope"}, "application id or its secret is wrong"),
                                 ({"address": "nobody@example-icb.test"}, "mailbox was not found")):
            box = graph_box(sim, MemoryState(), [], **overrides)
            with pytest.raises(PermanentMailboxError, match=words):
                box.folder_counts()
        sim.denied = True
        with pytest.raises(PermanentMailboxError, match="application access policy"):
            graph_box(sim, MemoryState(), []).folder_counts()
    finally:
        server.shutdown()


def test_mailbox_check_connects_sends_to_itself_and_explains_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from safeguard.cli import main
    from tests.mailstack import stack_config
    sim = GraphSim(mailbox="")
    server = sim.start()
    try:
        monkeypatch.setenv("SAFEGUARD_GRAPH_CLIENT_SECRET", "s3cret")
        monkeypatch.delenv("SAFEGUARD_DATABASE_URL", raising=False)
        site = stack_config(tmp_path, f"sqlite:///{tmp_path / 'r.sqlite3'}", graph_url=sim.url)
        sim.mailbox = site.mailbox
        assert main(["--config", str(site.directory), "mailbox", "check"]) == 0
        assert "found the copy in Sent" in capsys.readouterr().out
        assert sim.sent_to(site.mailbox)
        sim.denied = True
        assert main(["--config", str(site.directory), "mailbox", "check"]) == 1
        err = capsys.readouterr().err
        assert "application access policy" in err and "Traceback" not in err
    finally:
        server.shutdown()
