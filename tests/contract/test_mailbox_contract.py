"""One contract for the mailbox port, run against every adapter: Maildir, IMAP+SMTP on real
Dovecot/Postfix, and Exchange Web Services and Microsoft Graph over real HTTP against the
protocol-level test servers in tests/ewssim.py and tests/graphsim.py."""

from __future__ import annotations

import imaplib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from safeguard.adapters.mail.ews import EwsMailbox, EwsSettings
from safeguard.adapters.mail.graph import GraphMailbox, GraphSettings, MemoryState
from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings
from safeguard.adapters.mail.inbound import parse_inbound
from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.mail.port import Folder, Mailbox, PermanentMailboxError, TemporaryMailboxError
from testkit import samples
from tests.ewssim import EwsSim
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
    ews: EwsSim | None = None
    expire_sync: Callable[[], None] | None = None
    put_at: Callable[[bytes, datetime], None] | None = None  # into INBOX as if it arrived then


def graph_box(sim: GraphSim, state: MemoryState, slept: list[float], **overrides: str) -> GraphMailbox:
    settings = GraphSettings(address=sim.mailbox, tenant_id=sim.tenant, client_id=sim.client_id,
                             client_secret=sim.secret, authority=sim.url, graph_url=f"{sim.url}/v1.0")
    settings = GraphSettings(**{**settings.__dict__, **overrides})
    return GraphMailbox(settings, state, sleep=slept.append)


def ews_box(sim: EwsSim, state: MemoryState, slept: list[float], **overrides: object) -> EwsMailbox:
    settings = EwsSettings(address=sim.mailbox, endpoint=sim.endpoint, tenant_id=sim.identity.tenant,
                           client_id=sim.identity.client_id, client_secret=sim.identity.secret,
                           authority=sim.url, max_wait=5, max_backoffs=3)
    return EwsMailbox(EwsSettings(**{**settings.__dict__, **overrides}), state, sleep=slept.append)


@pytest.fixture(params=["maildir", pytest.param("imap", marks=pytest.mark.mailstack), "ews", "graph"])
def harness(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    address = f"safeguarding-{uuid.uuid4().hex[:8]}@example-icb.test"
    if request.param == "maildir":
        def open_box() -> Mailbox:
            return MaildirMailbox(tmp_path / "mail", address, tmp_path / "delivered")

        def received(to: str, n: int) -> list[bytes]:
            folder = tmp_path / "delivered" / to / "new"
            return [p.read_bytes() for p in folder.iterdir()] if folder.exists() else []
        def put_at(raw: bytes, when: datetime) -> None:
            os.utime(deliver(tmp_path / "mail", raw), (when.timestamp(), when.timestamp()))
        box = open_box()
        yield Harness("maildir", box, lambda raw: deliver(tmp_path / "mail", raw) and None, open_box,
                      received, put_at=put_at)
    elif request.param == "imap":
        def open_box() -> Mailbox:
            return ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT,
                                                    username=address, password=PASSWORD, smtp_host=HOST,
                                                    smtp_port=SMTP_PORT))

        def put(raw: bytes) -> None:
            before = len(read_inbox(address, 0, timeout=0))
            smtp_deliver(raw, address, SENDER)
            read_inbox(address, before + 1)
        def put_at(raw: bytes, when: datetime) -> None:  # APPEND sets INTERNALDATE (RFC 3501 6.3.11)
            imap = imaplib.IMAP4(HOST, IMAP_PORT)
            try:
                imap.login(address, PASSWORD)
                typ, _ = imap.append("INBOX", "", imaplib.Time2Internaldate(when), raw)
                assert typ == "OK"
            finally:
                imap.logout()
        box = open_box()
        yield Harness("imap", box, put, open_box, lambda to, n: read_inbox(to, n), put_at=put_at)
        box.close()
    elif request.param == "ews":
        # oauthlib wants TLS; the test server is loopback HTTP
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        ews = EwsSim(mailbox=address)
        server = ews.start()
        state, slept = MemoryState(), []
        box = ews_box(ews, state, slept)
        yield Harness("ews", box, lambda raw: ews.deliver(raw) and None, lambda: ews_box(ews, state, slept),
                      lambda to, n: ews.sent_to(to), slept=slept, ews=ews, expire_sync=ews.expire_sync_states,
                      put_at=lambda raw, when: ews.deliver(raw, when.timestamp()) and None)
        box.close()
        server.shutdown()
    else:
        sim = GraphSim(mailbox=address)
        server = sim.start()
        state, slept = MemoryState(), []
        box = graph_box(sim, state, slept)
        yield Harness("graph", box, lambda raw: sim.deliver(raw) and None,
                      lambda: graph_box(sim, state, slept),
                      lambda to, n: sim.sent_to(to), sim, slept, expire_sync=sim.expire_delta_links,
                      put_at=lambda raw, when: sim.deliver(raw, when.timestamp()) and None)
        box.close()
        server.shutdown()


def submission(n: int = 0) -> bytes:
    return samples.submission(SENDER, "safeguarding@example-icb.test", subject=f"Health alert form {n}",
                              attachments=[("form.xlsx",
                                            b"PK\x03\x04 pretend spreadsheet " + bytes([n]) * 2000)])


def test_a_message_is_listed_and_read_with_its_attachment(harness: Harness) -> None:
    raw = submission(1)
    harness.put(raw)
    [mailbox_id] = harness.box.list_new()
    fetched = harness.box.fetch(mailbox_id)
    assert fetched is not None
    original, got = parse_inbound(raw), parse_inbound(fetched)
    assert got.message_id == original.message_id
    assert ([(a.filename, a.data) for a in got.attachments]
            == [(a.filename, a.data) for a in original.attachments])


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


def file_own_copy(harness: Harness, message_id: str) -> None:
    """What intake does with the mailbox's own copy of an email it sent, where the adapter makes one
    (IMAP: see safeguard/adapters/mail/imap_smtp.py): Sent keeps one copy, INBOX none."""
    if harness.name != "imap":
        return
    deadline = time.monotonic() + 10
    while not (copies := [uid for uid, raw in harness.box.fetch_many(harness.box.list_new()).items()
                          if raw and message_id.encode() in raw]):
        assert time.monotonic() < deadline, "the mailbox's own copy never arrived"
        time.sleep(0.1)
    harness.box.file_sent_copies(copies)
    assert harness.box.message_ids(Folder.SENT).count(message_id) == 1


def test_retention_deletes_only_the_named_filed_and_sent_messages_and_never_inbox(harness: Harness) -> None:
    kept, filed, waiting = submission(5), submission(6), submission(7)
    for raw in (kept, filed):
        harness.put(raw)
    harness.box.move_many(harness.box.list_new(), Folder.PROCESSED)
    harness.put(waiting)
    message_id = f"<{uuid.uuid4().hex}@example-icb.test>"
    to = f"someone-{uuid.uuid4().hex[:6]}@uhcw.test"
    harness.box.send((f"From: {harness.box.address}\r\nTo: {to}\r\nSubject: notice\r\nMessage-ID: "
                      f"{message_id}\r\n\r\nhello\r\n").encode(), message_id=message_id, recipients=[to])
    file_own_copy(harness, message_id)
    doomed, spared = parse_inbound(filed).message_id, parse_inbound(kept).message_id
    assert harness.box.delete_filed(Folder.PROCESSED, {doomed, "<gone@example.test>"}) == 1
    assert harness.box.message_ids(Folder.PROCESSED) == [spared]
    assert harness.box.delete_filed(Folder.SENT, {message_id}) == 1
    assert not harness.box.in_sent(message_id)
    with pytest.raises(ValueError):
        harness.box.delete_filed(Folder.INBOX, {parse_inbound(waiting).message_id})
    assert len(harness.box.list_new()) == 1


def test_each_message_in_inbox_says_when_it_arrived_and_filed_ones_drop_out(harness: Harness) -> None:
    assert harness.put_at is not None
    assert harness.box.arrivals() == {}
    earlier = datetime(2026, 11, 20, 9, 15, 7, tzinfo=timezone(timedelta(hours=1)))
    harness.put_at(submission(50), earlier)
    before = datetime.now(UTC).replace(microsecond=0)
    harness.put(submission(51))
    arrived = harness.box.arrivals()
    assert set(arrived) == set(harness.box.list_new())
    assert all(when.tzinfo is not None for when in arrived.values())
    [old_id] = [m for m, when in arrived.items() if when == earlier]  # to the second, whatever the zone
    [new_id] = set(arrived) - {old_id}
    assert before - timedelta(minutes=2) <= arrived[new_id] <= datetime.now(UTC) + timedelta(minutes=2)
    harness.box.move(old_id, Folder.PROCESSED)
    assert set(harness.box.arrivals()) == {new_id}
    assert harness.box.fetch(new_id) is not None  # the listing was no fetch, and left list_new alone
    assert harness.box.list_new() == [new_id]


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
    if harness.ews is not None:
        return ews_throttling(harness, harness.ews)
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


def ews_throttling(harness: Harness, sim: EwsSim) -> None:
    """EWS throttles with ErrorServerBusy (HTTP 500, BackOffMilliseconds) or HTTP 503 + Retry-After;
    exchangelib's fault tolerance sleeps for it, so the wait is measured where the server sees it."""
    harness.put(submission(30))
    sim.faults.busy, sim.faults.back_off_ms = 2, 400
    assert len(harness.box.list_new()) == 1
    # BackOffMilliseconds honoured
    assert len(sim.waits_after("busy")) == 2 and min(sim.waits_after("busy")) >= 0.39
    sim.faults.unavailable = 1
    [mailbox_id] = harness.box.list_new()
    assert len(sim.waits_after("503")) == 1 and sim.waits_after("503")[0] >= 0.99  # Retry-After: 1 honoured
    sim.faults.drop = 1
    assert harness.box.fetch(mailbox_id) is not None
    assert harness.slept  # the dropped connection was ridden out with our own back-off
    issued = sim.identity.issued
    sim.identity.revoke_all()  # a token the server no longer accepts: one fresh token, then on
    assert harness.box.fetch(mailbox_id) is not None
    assert sim.identity.issued > issued
    sim.faults.busy, sim.faults.back_off_ms = 99, 50
    with pytest.raises(TemporaryMailboxError, match="throttling"):
        harness.box.list_new()  # our own limit: 3 back-offs per operation, then the next run continues
    sim.faults.busy = 0


def test_an_expired_token_is_replaced_before_it_is_refused(harness: Harness) -> None:
    if harness.ews is None:
        pytest.skip(f"{harness.name}: covered by the throttling case (Graph refreshes on 401) "
                    "or has no tokens")
    sim = harness.ews
    sim.identity.lifetime = 2
    box = harness.reopen()
    harness.put(submission(35))
    assert len(box.list_new()) == 1
    issued, refused = sim.identity.issued, sim.unauthorized
    time.sleep(2.5)
    assert len(box.list_new()) == 1
    assert sim.identity.issued > issued  # a new token...
    assert sim.unauthorized == refused  # ...fetched before Exchange had to refuse the old one
    box.close()


def test_an_expired_sync_state_starts_afresh_without_loss(harness: Harness) -> None:
    if harness.expire_sync is None:
        pytest.skip(f"{harness.name} keeps no sync state")
    harness.put(submission(40))
    [first] = harness.box.list_new()
    harness.box.move(first, Folder.PROCESSED)
    harness.put(submission(41))
    harness.put(submission(42))
    harness.expire_sync()
    second = harness.box.list_new()
    assert len(second) == 2 and first not in second and all(harness.box.fetch(m) is not None for m in second)


@pytest.mark.parametrize("adapter", ["graph", "ews"])
def test_configuration_faults_are_explained_in_plain_words(
        adapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    sim: GraphSim | EwsSim = GraphSim(mailbox="safeguarding@example-icb.test") if adapter == "graph" else \
        EwsSim(mailbox="safeguarding@example-icb.test")
    server = sim.start()

    def open_box(**overrides: str) -> Mailbox:
        if isinstance(sim, GraphSim):
            return graph_box(sim, MemoryState(), [], **overrides)
        return ews_box(sim, MemoryState(), [], **overrides)
    try:
        for overrides, words in (({"tenant_id": "wrong"}, "tenant id is wrong"),
                                 ({"client_secret": "nope"}, "application id or its secret is wrong"),
                                 ({"address": "nobody@example-icb.test"}, "mailbox was not found")):
            with pytest.raises(PermanentMailboxError, match=words):
                open_box(**overrides).folder_counts()
        sim.denied = True
        with pytest.raises(PermanentMailboxError,
                           match="application access policy|may not open this mailbox"):
            open_box().folder_counts()
    finally:
        server.shutdown()


@pytest.mark.parametrize("adapter", ["graph", "ews"])
def test_mailbox_check_connects_sends_to_itself_and_explains_faults(
        adapter: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main
    from tests.mailstack import stack_config
    secret = f"SAFEGUARD_{adapter.upper()}_CLIENT_SECRET"
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv(secret, "s3cret")
    monkeypatch.delenv("SAFEGUARD_DATABASE_URL", raising=False)
    sim: GraphSim | EwsSim = GraphSim(mailbox="") if adapter == "graph" else EwsSim(mailbox="")
    server = sim.start()
    try:
        site = stack_config(tmp_path, f"sqlite:///{tmp_path / 'r.sqlite3'}", **{f"{adapter}_url": sim.url})
        sim.mailbox = site.mailbox
        assert main(["--config", str(site.directory), "mailbox", "check"]) == 0
        out = capsys.readouterr().out
        assert f"({adapter})" in out and "found the copy in Sent" in out
        assert sim.sent_to(site.mailbox)
        sim.denied = True
        assert main(["--config", str(site.directory), "mailbox", "check"]) == 1
        err = capsys.readouterr().err
        assert (("application access policy" in err or "may not open this mailbox" in err)
                and "Traceback" not in err)
        monkeypatch.delenv(secret)
        assert main(["--config", str(site.directory), "mailbox", "check"]) != 0
        err = capsys.readouterr().err
        assert f"{secret} is not set" in err and "Traceback" not in err
    finally:
        server.shutdown()
