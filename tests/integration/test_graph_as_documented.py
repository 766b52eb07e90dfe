"""Microsoft Graph as Microsoft documents it, not as our adapter and simulator might agree between
themselves: an expired delta token answered with a 40X and syncStateNotFound (not only 410), a 410
whose Location says where to start again, a 409 for a folder that already exists, Retry-After as an
HTTP date, and a simulator that answers whatever it cannot handle with a JSON error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from cli.main import main
from safeguard.adapters.mail.graph import GraphMailbox, GraphSettings, MemoryState
from safeguard.adapters.mail.port import Folder
from testkit import samples
from tests.factories import fields, people
from tests.graphsim import GraphSim
from tests.mailstack import stack_config

MAILBOX = "safeguarding@example-icb.test"


@pytest.fixture
def sim() -> Iterator[GraphSim]:
    sim = GraphSim(mailbox=MAILBOX)
    server = sim.start()
    yield sim
    server.shutdown()


def mailbox(sim: GraphSim, slept: list[float] | None = None) -> GraphMailbox:
    settings = GraphSettings(address=sim.mailbox, tenant_id=sim.tenant, client_id=sim.client_id,
                             client_secret=sim.secret, authority=sim.url, graph_url=f"{sim.url}/v1.0")
    return GraphMailbox(settings, MemoryState(), sleep=(slept if slept is not None else []).append)


def form(sender: str, to: str, n: int) -> bytes:
    return samples.submission(sender, to, subject=f"Health alert form {n}", attachments=[
        ("form.xlsx", samples.xlsx_form(fields(**{"Social worker email": sender}), people()))])


@pytest.mark.parametrize("status", [400, 410])
def test_an_expired_delta_is_recovered_on_the_next_run_without_losing_or_repeating_a_message(
        status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR", "SAFEGUARD_DELIVER_TO", "SAFEGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAFEGUARD_GRAPH_CLIENT_SECRET", "s3cret")
    sim = GraphSim(mailbox="")
    server = sim.start()
    try:
        site = stack_config(tmp_path, f"sqlite:///{tmp_path / 'register.sqlite3'}", graph_url=sim.url)
        sim.mailbox, sender = site.mailbox, site.social_worker
        intake = ["--config", str(site.directory), "intake", "--once", "--without-prefect"]
        for n in (1, 2):
            sim.deliver(form(sender, site.mailbox, n))
        assert main(intake) == 0
        answered = len(sim.sent_to(sender))
        assert answered >= 2 and sim.in_folder("Inbox") == []
        sim.faults.expiry_status = status
        sim.expire_delta_links()  # Graph dropped the sync state the register holds a link to
        sim.deliver(form(sender, site.mailbox, 3))
        assert main(intake) == 0  # recovered in this run: nothing waits for a person
        # the new form answered, the two before it not again
        assert len(sim.sent_to(sender)) == answered + answered // 2
        assert sim.in_folder("Inbox") == []
        assert main(intake) == 0
        assert len(sim.sent_to(sender)) == answered + answered // 2
        assert sim.refused_delta_links == 1  # the expired link was offered once, then forgotten
    finally:
        server.shutdown()


def test_a_410_is_followed_to_its_location(sim: GraphSim) -> None:
    box = mailbox(sim)
    sim.deliver(b"Subject: one\r\nMessage-ID: <one@x>\r\n\r\nhi\r\n")
    [first] = box.list_new()
    box.move(first, Folder.PROCESSED)
    sim.expire_delta_links()
    second = sim.deliver(b"Subject: two\r\nMessage-ID: <two@x>\r\n\r\nhi\r\n")
    before = len(sim.requests)
    assert box.list_new() == [second]
    followed = [p for _, p in sim.requests[before:] if "/messages/delta" in p]
    assert followed[-1].endswith("/mailFolders/inbox/messages/delta()")  # the Location, as given


def test_retry_after_given_as_an_http_date_is_honoured(sim: GraphSim) -> None:
    slept: list[float] = []
    box = mailbox(sim, slept)
    sim.faults.throttle, sim.faults.retry_after = 1, formatdate(time.time() + 30, usegmt=True)
    assert box.list_new() == []
    [wait] = slept
    assert 27 <= wait <= 30


def test_a_folder_that_exists_but_is_not_listed_yet_is_used_after_graphs_409(sim: GraphSim) -> None:
    box = mailbox(sim)
    sim.folders["existing"] = "Processed"
    sim.faults.stale_folder_listing = 1  # the first lookup misses it, so the adapter tries to create it
    mid = sim.deliver(b"Subject: one\r\nMessage-ID: <one@x>\r\n\r\nhi\r\n")
    box.move(mid, Folder.PROCESSED)
    assert [m.id for m in sim.in_folder("Processed")] == [mid]
    assert [p for m, p in sim.requests if m == "POST" and p.endswith("/mailFolders")]  # and met 409
    assert sum(1 for name in sim.folders.values() if name == "Processed") == 1


def test_the_simulator_answers_every_request_it_cannot_handle_with_a_json_error(sim: GraphSim) -> None:
    token = mailbox(sim)._get_token()
    base = f"{sim.url}/v1.0/users/{MAILBOX}"
    mid = sim.deliver(b"Subject: one\r\nMessage-ID: <one@x>\r\n\r\nhi\r\n")
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        for method, url, body in (("GET", f"{base}/calendar/events", None),
                                  ("PATCH", f"{base}/messages/{mid}", b"{}"),
                                  ("POST", f"{base}/messages/{mid}/move", b"not json"),
                                  ("POST", f"{base}/messages/{mid}/move", b'{"somethingElse": 1}'),
                                  ("POST", f"{base}/sendMail", b"%%% not base64 %%%")):
            answer = client.request(method, url, content=body,
                                    headers={"Content-Type": "text/plain" if "sendMail" in url
                                             else "application/json"})
            assert 400 <= answer.status_code < 500 and answer.json()["error"]["code"], (method, url)
        moved = client.post(f"{sim.url}/v1.0/Users('{MAILBOX}')/Messages('{mid}')/Move",
                            json={"DestinationId": "DeletedItems"})
        assert moved.status_code == 201 and moved.json()["@odata.context"]
        chosen = client.get(f"{base}/messages/{mid}", params={"$select": "subject"}).json()
        assert set(chosen) == {"@odata.context", "@odata.etag", "id", "subject"}
