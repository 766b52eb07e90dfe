"""The Graph simulator driven by Microsoft's own Graph SDK (msgraph-sdk), so the simulator is held to
Microsoft's generated request builders and models rather than to our adapter, which was written
beside it: delta paging with $select, the MIME of a message ($value), folders and child folders
(409 for a name already there), move, and sendMail both as JSON and as MIME."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from tests.graphsim import PAGE, GraphSim

MAILBOX = "safeguarding@example-icb.test"
TO = "safeguarding.team@uhcw.nhs.net"


class StaticToken:
    """An azure-core TokenCredential holding one token (from the simulator's token endpoint)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def sim() -> Iterator[GraphSim]:
    sim = GraphSim(mailbox=MAILBOX)
    server = sim.start()
    yield sim
    server.shutdown()


def sdk_client(sim: GraphSim) -> tuple[GraphServiceClient, GraphRequestAdapter]:
    token = httpx.post(f"{sim.url}/{sim.tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.secret,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    auth = AzureIdentityAuthenticationProvider(StaticToken(token), scopes=["https://graph.microsoft.com/.default"],
                                               allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = f"{sim.url}/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter


def mime(n: int) -> bytes:
    return (f"From: someone@coventry-council.test\r\nTo: {MAILBOX}\r\nSubject: message {n}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@coventry-council.test>\r\n\r\nbody {n}\r\n").encode()


async def read_delta(user: UserItemRequestBuilder, link: str | None = None) -> tuple[list[Message], str]:
    """Every page of a delta round, as the SDK's own builders follow them; and the next round's link."""
    builder = user.mail_folders.by_mail_folder_id("inbox").messages.delta
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=["subject", "receivedDateTime"])
    page = await (builder.with_url(link).get() if link else
                  builder.get(request_configuration=RequestConfiguration(query_parameters=query)))
    assert page is not None
    found, pages = list(page.value or []), 1
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        assert page is not None
        found, pages = found + list(page.value or []), pages + 1
    assert page.odata_delta_link and (link or pages > 1)
    return found, page.odata_delta_link


async def read_move_and_file(user: UserItemRequestBuilder, delivered: dict[str, bytes]) -> None:
    found, delta_link = await read_delta(user)
    assert sorted(m.id or "" for m in found) == sorted(delivered)
    assert all(m.subject and m.received_date_time and m.body is None for m in found)  # $select honoured
    first = found[0].id or ""
    assert await user.messages.by_message_id(first).content.get() == delivered[first]  # MIME, byte for byte
    folder = await user.mail_folders.post(MailFolder(display_name="Processed"))
    assert folder is not None and folder.id
    under = user.mail_folders.by_mail_folder_id(folder.id).child_folders
    child = await under.post(MailFolder(display_name="2026"))
    assert child is not None and child.parent_folder_id == folder.id
    children = await under.get()
    assert children is not None and [c.display_name for c in children.value or []] == ["2026"]
    with pytest.raises(ODataError) as refused:
        await user.mail_folders.post(MailFolder(display_name="Processed"))
    assert refused.value.response_status_code == 409
    assert refused.value.error is not None and refused.value.error.code == "ErrorFolderExists"
    moved = await user.messages.by_message_id(first).move.post(MovePostRequestBody(destination_id=child.id))
    assert moved is not None and moved.parent_folder_id == child.id
    changes, _ = await read_delta(user, delta_link)
    removed = [(m.id, (m.additional_data or {}).get("@removed")) for m in changes]
    assert removed == [(first, {"reason": "deleted"})]


async def send_both_ways(user: UserItemRequestBuilder, adapter: GraphRequestAdapter) -> None:
    await user.send_mail.post(SendMailPostRequestBody(save_to_sent_items=True, message=Message(
        subject="JSON form", body=ItemBody(content_type=BodyType.Text, content="sent as JSON"),
        to_recipients=[Recipient(email_address=EmailAddress(address=TO))],
        attachments=[FileAttachment(odata_type="#microsoft.graph.fileAttachment", name="notice.txt",
                                    content_type="text/plain", content_bytes=b"the attachment")])))
    raw = (f"From: {MAILBOX}\r\nTo: {TO}\r\nSubject: MIME form\r\n"
           "Message-ID: <mime-form@example-icb.test>\r\n\r\nsent as MIME\r\n").encode()
    request = RequestInformation(Method.POST, "{+baseurl}/users/{user%2Did}/sendMail",
                                 dict(user.send_mail.path_parameters))
    request.set_stream_content(base64.b64encode(raw), "text/plain")  # MIME, as Microsoft documents it
    await adapter.send_no_response_content_async(request, {"XXX": ODataError.create_from_discriminator_value})


def test_microsofts_graph_sdk_reads_moves_files_and_sends_through_the_simulator(sim: GraphSim) -> None:
    delivered = {}
    for n in range(PAGE * 2 + 5):  # three pages of delta
        raw = mime(n)
        delivered[sim.deliver(raw)] = raw
    client, adapter = sdk_client(sim)
    user = client.users.by_user_id(MAILBOX)

    async def drive() -> None:
        await read_move_and_file(user, delivered)
        await send_both_ways(user, adapter)
    asyncio.run(drive())
    [json_form] = [m for m in sim.sent_to(TO) if b"JSON form" in m]
    parsed = message_from_bytes(json_form, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert [(p.get_filename(), p.get_content()) for p in parsed.iter_attachments()] == [
        ("notice.txt", "the attachment")]
    assert any(b"sent as MIME" in m for m in sim.sent_to(TO))
    assert {m.internet_message_id for m in sim.in_folder("Sent Items")} >= {"<mime-form@example-icb.test>"}
    assert len(sim.in_folder("Sent Items")) == 2
