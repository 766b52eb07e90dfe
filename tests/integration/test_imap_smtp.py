"""The IMAP+SMTP adapter and the intake on real Dovecot and Postfix (scripts/mailstack.sh)."""

from __future__ import annotations

import imaplib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings, _search_ids
from safeguard.adapters.mail.port import Folder, PermanentMailboxError
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.sending import send_unsent
from tests.conftest import subject_of
from tests.factories import SW, xlsx_submission
from tests.mailstack import HOST, IMAP_PORT, PASSWORD, SMTP_PORT, folder_message_ids, read_inbox, smtp_deliver

pytestmark = pytest.mark.mailstack


@pytest.fixture
def address() -> str:
    return f"safeguarding-{uuid.uuid4().hex[:8]}@example-icb.test"


@pytest.fixture
def imap_box(address: str) -> Iterator[ImapSmtpMailbox]:
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT))
    yield box
    box.close()


def test_a_chunk_is_fetched_whole_even_from_a_server_that_names_the_uid_after_the_body(
        imap_box: ImapSmtpMailbox, address: str) -> None:
    raws = [xlsx_submission() for _ in range(3)]
    for raw in raws:
        smtp_deliver(raw, address, SW)
    read_inbox(address, 3)
    uids = imap_box.list_new()
    assert {uid: len(raw or b"") for uid, raw in imap_box.fetch_many(uids).items()} == \
        {uid: len(imap_box.fetch(uid) or b"") for uid in uids}
    imap = imap_box._imap.get(Folder.INBOX)  # answer as a server may: "* 1 FETCH (BODY[] {n} ... UID 7)"
    assert imap is not None
    real_uid = imap.uid

    def uid_after_body(command: str, *args: str):  # imaplib's own return shape
        typ, data = real_uid(command, *args)
        if command == "FETCH" and "BODY.PEEK[]" in args[-1]:
            data = [(re.sub(rb"UID \d+ ", b"", p[0]), p[1]) if isinstance(p, tuple) else p for p in data]
        return typ, data

    imap.uid = uid_after_body  # type: ignore[method-assign]
    fetched = imap_box.fetch_many(uids)
    assert sorted(fetched) == sorted(uids) and all(b"form.xlsx" in (raw or b"") for raw in fetched.values())
    imap_box.move_many(uids, Folder.PROCESSED)
    assert imap_box.list_new() == [] and imap_box.folder_counts()["Processed"] == 3


def test_mail_sent_over_smtp_is_listed_fetched_and_moved(imap_box: ImapSmtpMailbox, address: str) -> None:
    raw = xlsx_submission()
    smtp_deliver(raw, address, SW)
    read_inbox(address, 1)
    [uid] = imap_box.list_new()
    assert b"form.xlsx" in (imap_box.fetch(uid) or b"")
    imap_box.move(uid, Folder.PROCESSED)
    imap_box.move(uid, Folder.PROCESSED)  # already gone: not an error
    assert imap_box.list_new() == [] and imap_box.folder_counts()["Processed"] == 1


def test_sending_delivers_and_keeps_a_copy_in_sent(imap_box: ImapSmtpMailbox) -> None:
    to = f"someone-{uuid.uuid4().hex[:6]}@uhcw.test"
    raw = (f"From: {imap_box.address}\r\nTo: {to}\r\nSubject: test\r\nMessage-ID: <m1-{to}>\r\n\r\n"
           "hello\r\n").encode()
    assert not imap_box.in_sent(f"<m1-{to}>")
    imap_box.send(raw, message_id=f"<m1-{to}>", recipients=[to])
    assert len(read_inbox(to, 1)) == 1
    assert imap_box.in_sent(f"<m1-{to}>")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-command-at-a-time"])
def test_a_refused_recipient_is_a_permanent_error_and_the_mailbox_gets_no_copy(
        imap_box: ImapSmtpMailbox, pipelining: bool) -> None:
    raw = f"From: {imap_box.address}\r\nSubject: x\r\nMessage-ID: <x@y>\r\n\r\nx\r\n".encode()
    if not pipelining:
        imap_box._smtp = imap_box._connect_smtp()
        imap_box._smtp.ehlo()
        imap_box._smtp.esmtp_features.pop("pipelining", None)
    with pytest.raises(PermanentMailboxError):
        imap_box.send(raw, message_id="<x@y>", recipients=["refuse-me@uhcw.test"])
    time.sleep(0.5)  # the mailbox's own copy, had the email gone, would have arrived by now
    assert imap_box.list_new() == [] and not imap_box.in_sent("<x@y>")


def test_the_mailbox_is_a_recipient_of_what_it_sends_so_a_send_cut_off_before_its_copy_in_sent_is_seen(
        imap_box: ImapSmtpMailbox, address: str) -> None:
    to = f"someone-{uuid.uuid4().hex[:6]}@uhcw.test"
    message_id = f"<cut-{to}>"
    raw = f"From: {address}\r\nTo: {to}\r\nSubject: t\r\nMessage-ID: {message_id}\r\n\r\nhi\r\n".encode()
    imap_box._smtp_send(raw, [to])  # what a process killed before the APPEND to Sent had done
    read_inbox(address, 1)
    assert imap_box.folder_counts()["Sent"] == 0 and imap_box.in_sent(message_id)
    imap_box.file_sent_copies(imap_box.list_new())  # as intake does: Sent lacks it, so the copy goes there
    assert imap_box.list_new() == [] and imap_box.message_ids(Folder.SENT) == [message_id]


def test_intake_over_imap_replies_into_the_senders_own_mailbox(
        imap_box: ImapSmtpMailbox, address: str, config, uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime]) -> None:
    sender = f"sw-{uuid.uuid4().hex[:6]}@coventry-council.test"
    raw = xlsx_submission().replace(SW.encode(), sender.encode())
    smtp_deliver(raw, address, sender)
    smtp_deliver(raw, address, sender)  # delivered twice
    read_inbox(address, 2)
    ctx = IntakeContext(config, imap_box, uow, clock)
    results = [process_message(uid, ctx) for uid in imap_box.list_new()]
    send_unsent(ctx)
    assert [r.outcome for r in results] == ["accepted", "duplicate"]
    replies = read_inbox(sender, 1)
    time.sleep(0.5)  # a second reply, if any, would have arrived by now
    assert [subject_of(r) for r in read_inbox(sender, 1)] == [
        "HSA-2026-000001: health alert received, awaiting approval"]
    assert len(replies) == 1
    approvers = len(config.settings.service.approvers)  # each is sent one approval-needed email
    copies = read_inbox(address, 1 + approvers)  # the mailbox's own copy of each email it sent
    assert len(copies) == 1 + approvers
    filed = [process_message(uid, ctx) for uid in imap_box.list_new()]
    assert {r.outcome for r in filed} == {"own-copy"}
    counts = imap_box.folder_counts()  # Sent held each copy already (APPENDed): the own copies went
    assert (counts["INBOX"], counts["Processed"], counts["Sent"]) == (0, 2, 1 + approvers)
    assert len(set(imap_box.message_ids(Folder.SENT))) == 1 + approvers


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_waiting_for_mail_returns_when_it_arrives_and_times_out_when_none_does(
        address: str, idle: bool) -> None:
    import threading
    box = ImapSmtpMailbox(ImapSmtpSettings(address=address, host=HOST, port=IMAP_PORT, username=address,
                                           password=PASSWORD, smtp_host=HOST, smtp_port=SMTP_PORT, idle=idle))
    try:
        started = time.monotonic()
        assert box.wait_for_mail(1.0, poll_seconds=0.5) is False
        assert 0.9 <= time.monotonic() - started < 5
        threading.Timer(1.0, smtp_deliver, args=(xlsx_submission(), address, SW)).start()
        started = time.monotonic()
        assert box.wait_for_mail(20.0, poll_seconds=0.5) is True
        waited = time.monotonic() - started
        assert 0.9 <= waited < (3 if idle else 4), waited  # with IDLE, as soon as Dovecot has it
        assert len(box.list_new()) == 1  # and the connection is still usable after IDLE
        box.move(box.list_new()[0], Folder.PROCESSED)
    finally:
        box.close()


@pytest.mark.parametrize("how", ["move-by-copy", "retention-delete"])
def test_removing_our_messages_leaves_one_a_person_marked_deleted_in_the_same_folder(
        imap_box: ImapSmtpMailbox, address: str, how: str) -> None:
    """A person's mail client may mark a message \\Deleted and leave it there (Outlook's IMAP "mark
    for deletion"); our moves and deletions remove only the messages they name."""
    ids = [f"<n{n}-{address}>" for n in range(2)]
    for message_id in ids:
        smtp_deliver(f"From: {SW}\r\nTo: {address}\r\nSubject: s\r\nMessage-ID: {message_id}\r\n\r\nx\r\n"
                     .encode(), address, SW)
    read_inbox(address, 2)
    folder = Folder.INBOX
    if how == "retention-delete":
        imap_box.move_many(imap_box.list_new(), Folder.PROCESSED)
        folder = Folder.PROCESSED
    person = imaplib.IMAP4(HOST, IMAP_PORT)
    person.login(address, PASSWORD)
    person.select(str(folder))
    _, found = person.uid("SEARCH", "HEADER", "Message-ID", ids[1])
    person.uid("STORE", found[0].decode(), "+FLAGS", r"(\Deleted)")
    person.logout()
    if how == "move-by-copy":
        [mine] = imap_box._with_imap(lambda imap: _search_ids(imap, ids[0]))
        imap_box._can_move = False  # as on a server without MOVE (RFC 6851), once connected
        imap_box.move_many([mine.decode()], Folder.PROCESSED)
    else:
        assert imap_box.delete_filed(Folder.PROCESSED, {ids[0]}) == 1
    assert folder_message_ids(address, str(folder)) == [ids[1]]
