"""What the Graph adapter needs to send a message too large for one request. Microsoft Graph takes
at most 4 MB in a request, and sendMail carries the MIME message base64-encoded (a third larger), so
a message over 3 MB goes another way, the one Microsoft documents for large attachments: a draft
made from the message without its attached files, each file attached to the draft (under 3 MB in
one POST, larger through an upload session, in ranges), then the draft sent. Exchange keeps the
sent message in Sent Items under the same Message-ID, so the outbox's look in Sent still holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

LARGE = 3_000_000  # bytes of MIME (or of one file) above which one request would pass 4 MB in base64
CHUNK = 12 * 320 * 1024  # 3.75 MiB: under 4 MB a request, and a multiple of 320 KiB as Microsoft asks


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
