"""Sending through Microsoft Graph a message too large for one request. Graph takes at most 4 MB in
a request, and sendMail carries the MIME message base64-encoded (a third larger), so a message over
3 MB goes the way Microsoft documents for large attachments: a draft made from the message without
its attached files, each file attached to the draft (up to 3 MB in one POST, larger through an
upload session, in ranges), then the draft sent. Exchange keeps the sent message in Sent Items under
the same Message-ID, so the outbox's look in Sent before any retry still holds.

Any step may fail with its outcome unknown (a dropped connection). The message is then not in Sent,
so the outbox sends it again: first the drafts an interrupted attempt left are deleted, then the
whole sequence runs afresh. A range is never re-sent within an attempt: Microsoft documents no way
to learn whether a range whose answer was lost arrived."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from safeguard.adapters.mail.port import PermanentMailboxError, TemporaryMailboxError

LARGE = 3_000_000  # bytes of MIME (or of one file) above which one request would pass 4 MB in base64
CHUNK = 12 * 320 * 1024  # 3.75 MiB: under 4 MB a request, and a multiple of 320 KiB as Microsoft asks


class Request(Protocol):
    """GraphMailbox._request: one Graph request with its retries, tokens and errors."""

    def __call__(self, method: str, path: str, *, expect: tuple[int, ...] = ..., stream: bool = ...,
                 idempotent: bool = ..., signed: bool = ..., **kwargs: Any) -> httpx.Response: ...


def send_large(request: Request, message: bytes, message_id: str) -> None:
    """Draft, attach, send."""
    body, files = split_attachments(message)
    if len(body) > LARGE:
        raise PermanentMailboxError("the message is too large for Microsoft Graph even without its "
                                    "attachments")
    for leftover in _drafts(request, message_id):
        request("DELETE", f"/messages/{quote(leftover)}", expect=(204, 404))
    draft = request("POST", "/messages", content=base64.b64encode(body), expect=(201,), idempotent=False,
                    headers={"Content-Type": "text/plain"}).json()["id"]
    for file in files:
        _attach(request, draft, file)
    request("POST", f"/messages/{quote(draft)}/send", expect=(202,), idempotent=False)


def _drafts(request: Request, message_id: str) -> list[str]:
    """Drafts of this message left by an interrupted attempt."""
    escaped = message_id.replace("'", "''")
    found = request("GET", "/mailFolders/drafts/messages",
                    params={"$filter": f"internetMessageId eq '{escaped}'", "$select": "id"}).json()
    return [m["id"] for m in found.get("value", [])]


def _attach(request: Request, draft: str, file: Attachment) -> None:
    path = f"/messages/{quote(draft)}/attachments"
    if len(file.data) <= LARGE:
        request("POST", path, expect=(201,), idempotent=False, json={
            "@odata.type": "#microsoft.graph.fileAttachment", "name": file.name,
            "contentType": file.content_type, "contentBytes": base64.b64encode(file.data).decode()})
        return
    session = request("POST", f"{path}/createUploadSession", expect=(201,), idempotent=False, json={
        "AttachmentItem": {"attachmentType": "file", "name": file.name, "size": len(file.data),
                           "contentType": file.content_type}}).json()
    for first, last in byte_ranges(len(file.data)):
        # The upload URL carries its own authorization: Microsoft says to send no Authorization header.
        answer = request("PUT", session["uploadUrl"], content=file.data[first:last + 1],
                         headers={"Content-Type": "application/octet-stream",
                                  "Content-Range": f"bytes {first}-{last}/{len(file.data)}"},
                         expect=(200, 201), idempotent=False, signed=False)
        if answer.status_code == 200 and _next_expected(answer) != [str(last + 1)]:
            raise TemporaryMailboxError("Microsoft Graph lost its place in an attachment upload; "
                                        "the next run will send the message again")


def _next_expected(answer: httpx.Response) -> object:
    try:
        return answer.json().get("nextExpectedRanges")
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


def split_attachments(message: bytes) -> tuple[bytes, list[Attachment]]:
    """The message without its attached files (headers, Message-ID and text as they were), and the
    files themselves, in order."""
    parsed = BytesParser(policy=policy.SMTP).parsebytes(message)
    files: list[Attachment] = []
    for part in [p for p in parsed.walk() if p.is_multipart()]:
        assert isinstance(part, EmailMessage)
        kept = []
        for sub in part.get_payload():
            if not sub.is_multipart() and sub.get_content_disposition() == "attachment":
                files.append(Attachment(sub.get_filename() or "attachment", sub.get_content_type(),
                                        sub.get_payload(decode=True) or b""))
            else:
                kept.append(sub)
        part.set_payload(kept)
    return parsed.as_bytes(), files


def byte_ranges(size: int, chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """(first, last) byte of each range to upload, in order: every range but the last is `chunk`."""
    for start in range(0, size, chunk):
        yield start, min(start + chunk, size) - 1
