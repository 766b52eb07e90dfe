"""Mail over 3 MB on Microsoft Graph: sendMail takes at most 4 MB a request, so the adapter makes a
draft, attaches the file through an upload session in ranges, and sends the draft. Through the
outbox it lands in Sent Items exactly once, even when the connection drops mid-upload."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from safeguard.adapters.mail.graph import GraphMailbox, GraphSettings, MemoryState
from safeguard.adapters.mail.graph_upload import CHUNK
from safeguard.adapters.notify.outbox import Sender, queue_email, send_entries
from safeguard.adapters.notify.render import Rendered
from safeguard.adapters.register.uow import UnitOfWork
from tests.conftest import NOW
from tests.cutproxy import CutProxy
from tests.graphsim import GraphSim

MAILBOX = "safeguarding@example-icb.test"
TO = "fgm.returns@uhcw.nhs.net"
RECORDS = os.urandom(10 * 1024 * 1024)  # a 10 MB record-level workbook, as incompressible as one


@pytest.fixture
def register_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'register.sqlite3'}"  # the mailbox is under test here, not the register


@pytest.fixture
def sim() -> Iterator[GraphSim]:
    sim = GraphSim(mailbox=MAILBOX)
    server = sim.start()
    yield sim
    server.shutdown()


def mailbox(url: str, sim: GraphSim) -> GraphMailbox:
    return GraphMailbox(GraphSettings(address=MAILBOX, tenant_id=sim.tenant, client_id=sim.client_id,
                                      client_secret=sim.secret, authority=url, graph_url=f"{url}/v1.0"),
                        MemoryState(), sleep=lambda _: None)


def queue_return(uow: Callable[[], UnitOfWork]) -> tuple[int, str]:
    with uow() as u:
        entry = queue_email(u.register, key="returns:record-level:2026-10", kind="admin:returns-record-level",
                            rendered=Rendered("FGM record-level return", "Attached.\n", "<p>Attached.</p>"),
                            sender=Sender(MAILBOX, "Safeguarding"), recipients=[TO], at=NOW,
                            attachments=(("fgm-record-level-2026-10.xlsx", RECORDS),))
        u.commit()
        return entry.id, entry.message_id


def attached_files(mime: bytes) -> list[tuple[str, bytes]]:
    parsed = message_from_bytes(mime, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return [(p.get_filename() or "", p.get_content()) for p in parsed.iter_attachments()]


def landed_once(sim: GraphSim, message_id: str) -> None:
    sent = [m for m in sim.in_folder("Sent Items") if m.internet_message_id == message_id]
    assert len(sent) == 1 and len(sim.sent_to(TO)) == 1
    assert attached_files(sim.sent_to(TO)[0]) == [("fgm-record-level-2026-10.xlsx", RECORDS)]
    assert sim.in_folder("Drafts") == [] and sim.uploads == {}


def test_a_ten_megabyte_return_is_attached_in_ranges_and_lands_in_sent_once(
        sim: GraphSim, uow: Callable[[], UnitOfWork]) -> None:
    entry_id, message_id = queue_return(uow)
    with mailbox(sim.url, sim) as box:
        assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "sent"}
    landed_once(sim, message_id)
    puts = [path for method, path in sim.requests if method == "PUT"]
    assert len(puts) == -(-len(RECORDS) // CHUNK) and CHUNK % (320 * 1024) == 0
    assert not any(path.endswith("/sendMail") for _, path in sim.requests)


@pytest.mark.parametrize("how", ["connection cut", "answer lost"])
def test_a_connection_lost_mid_upload_still_sends_the_return_once(
        how: str, sim: GraphSim, uow: Callable[[], UnitOfWork]) -> None:
    entry_id, message_id = queue_return(uow)
    proxy = CutProxy(("127.0.0.1", int(sim.url.rsplit(":", 1)[1]))).start()
    try:
        if how == "connection cut":
            proxy.cut_after(b"Content-Range: bytes", 2)  # the second range never reaches Graph
        else:
            sim.faults.lose_upload_answer = 1  # Graph stores the first range, but its answer is lost
        with mailbox(f"http://127.0.0.1:{proxy.port}", sim) as box:
            assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "deferred"}
            assert sim.sent_to(TO) == [] and len(sim.in_folder("Drafts")) == 1  # the interrupted draft
            proxy.restore()
            assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "sent"}
            assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "sent"}
    finally:
        proxy.close()
    landed_once(sim, message_id)


def test_a_lost_answer_to_the_drafts_send_is_found_in_sent_and_not_sent_again(
        sim: GraphSim, uow: Callable[[], UnitOfWork]) -> None:
    entry_id, message_id = queue_return(uow)
    sim.faults.lose_send_answer = 1
    with mailbox(sim.url, sim) as box:
        assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "deferred"}
        assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "sent"}
    landed_once(sim, message_id)
    assert sum(path.endswith("/send") for _, path in sim.requests) == 1


def test_graph_refuses_a_request_over_four_megabytes_as_microsoft_does(sim: GraphSim) -> None:
    with mailbox(sim.url, sim) as box:
        box.folder_counts()
        token = box._get_token()
    mime = b"To: " + TO.encode() + b"\r\nSubject: big\r\n\r\n" + base64.b64encode(RECORDS[:3_200_000])
    answer = httpx.post(f"{sim.url}/v1.0/users/{MAILBOX}/sendMail", content=base64.b64encode(mime),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
    assert answer.status_code == 413 and answer.json()["error"]["code"]
    assert sim.sent_to(TO) == []


def test_the_simulator_holds_an_upload_to_microsofts_rules(sim: GraphSim) -> None:
    token = mailbox(sim.url, sim)._get_token()
    base = f"{sim.url}/v1.0/users/{MAILBOX}"
    signed = {"Authorization": f"Bearer {token}"}
    mime = f"To: {TO}\r\nSubject: big\r\nMessage-ID: <big@example-icb.test>\r\n\r\nsee attached\r\n".encode()
    draft = httpx.post(f"{base}/messages", content=base64.b64encode(mime),
                       headers={**signed, "Content-Type": "text/plain"}).json()["id"]
    size = 2 * CHUNK + 10
    session = httpx.post(f"{base}/messages/{draft}/attachments/createUploadSession", headers=signed,
                         json={"AttachmentItem": {"attachmentType": "file", "name": "r.xlsx", "size": size}})
    assert session.status_code == 201 and session.json()["nextExpectedRanges"] == ["0-"]
    url = session.json()["uploadUrl"]

    def put(first: int, last: int, **headers: str) -> httpx.Response:
        return httpx.put(url, content=RECORDS[first:last + 1], headers={
            "Content-Type": "application/octet-stream", "Content-Range": f"bytes {first}-{last}/{size}",
            **headers})
    assert put(0, CHUNK - 1, Authorization=f"Bearer {token}").status_code == 401  # pre-authenticated URL
    assert put(CHUNK, 2 * CHUNK - 1).status_code == 416  # in order only
    assert put(0, CHUNK - 2).status_code == 400  # not a multiple of 320 KiB, and not the last range
    assert put(0, CHUNK - 1).json()["nextExpectedRanges"] == [str(CHUNK)]
    assert put(CHUNK, 2 * CHUNK - 1).status_code == 200
    last = put(2 * CHUNK, size - 1)
    assert last.status_code == 201 and f"Messages('{draft}')/Attachments(" in last.headers["Location"]
    assert httpx.post(f"{base}/messages/{draft}/send", headers=signed).status_code == 202
    assert attached_files(sim.sent_to(TO)[0]) == [("r.xlsx", RECORDS[:size])]
