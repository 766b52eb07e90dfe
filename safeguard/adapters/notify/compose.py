"""Compose an RFC 5322 message from rendered text and HTML.

Written out directly rather than through email.message.EmailMessage: every intake reply and every
notice is composed, and the standard library's header registry spent more time per message than
parsing the submission. The output is plain MIME (RFC 2045-2049): 7bit where the text allows,
quoted-printable otherwise, base64 attachments, RFC 2047 encoded headers, CRLF line ends.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from email.header import Header
from email.quoprimime import body_encode
from email.utils import format_datetime, formataddr

from safeguard.adapters.notify.render import Rendered

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "xlsx": XLSX}  # by the file name's extension
CRLF = "\r\n"


def message_id_for(key: str, domain: str) -> str:
    """A new, unguessable Message-ID (160 random bits; `key` is not used in it). The outbox keeps
    it with the entry, so a resend of the entry is recognisably the same email. Unguessable matters:
    a bounce is believed because it quotes the Message-ID of an email we sent, which only we and the
    recipient's mail servers have seen (see docs/bounces.md)."""
    return f"<{secrets.token_hex(20)}@{domain}>"


def compose(rendered: Rendered, *, sender: str, sender_name: str, recipients: list[str], message_id: str,
            at: datetime, in_reply_to: str | None = None, auto_reply: bool = False,
            attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    headers = [
        ("From", formataddr((sender_name, sender), charset="utf-8")),
        ("To", ", ".join(recipients)),
        ("Subject", rendered.subject),
        ("Date", format_datetime(at)),
        ("Message-ID", message_id),
        # RFC 3834: our messages are automatic; well-behaved responders will not answer them.
        ("Auto-Submitted", "auto-replied" if auto_reply else "auto-generated"),
        # Exchange and Outlook ignore Auto-Submitted; this asks them for no out-of-office replies,
        # read receipts or other automatic answers to our notices.
        ("X-Auto-Response-Suppress", "All"),
    ]
    if in_reply_to:
        headers += [("In-Reply-To", in_reply_to), ("References", in_reply_to)]
    headers.append(("MIME-Version", "1.0"))
    body = _multipart("alternative", [_text_part(rendered.text, "plain"), _text_part(rendered.html, "html")])
    if attachments:
        body = _multipart("mixed", [body, *(_attachment(name, data) for name, data in attachments)])
    return (CRLF.join(_header(name, value) for name, value in headers) + CRLF + body).encode("ascii")


def _header(name: str, value: str) -> str:
    value = " ".join(value.split())  # one line: no header injection from rendered text
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}"
    folded = Header(value, "us-ascii" if value.isascii() else "utf-8", header_name=name).encode(linesep=CRLF)
    return f"{name}: {folded}"


def _text_part(text: str, subtype: str) -> str:
    lines = text.splitlines()
    if text.isascii() and all(len(line) <= 998 for line in lines):
        encoding, payload = "7bit", CRLF.join(lines)
    else:
        octets = text.replace("\r\n", "\n").encode().decode("latin-1")  # quoprimime encodes one char per byte
        encoding, payload = "quoted-printable", body_encode(octets, eol=CRLF)
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {encoding}{CRLF}'
            f"{CRLF}{payload}{CRLF}")


def _attachment(filename: str, data: bytes) -> str:
    quoted = filename.replace("\\", "_").replace('"', "_")
    name = quoted if quoted.isascii() else Header(quoted, "utf-8").encode()
    content_type = CONTENT_TYPES.get(filename.rpartition(".")[2].lower(), XLSX)
    return (f'Content-Type: {content_type}{CRLF}Content-Disposition: attachment; filename="{name}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            + base64.encodebytes(data).decode("ascii").replace("\n", CRLF))


def _multipart(subtype: str, parts: list[str]) -> str:
    boundary = f"=_{secrets.token_hex(16)}"  # random: cannot occur in 7bit, quoted-printable or base64 text
    inner = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return (f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
            f"{inner}--{boundary}--{CRLF}")
