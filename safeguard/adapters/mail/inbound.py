"""Reading an inbound message defensively: one sender, bodies decoded whatever the charset,
attachments listed with their sizes. Nothing here raises on a malformed message; faults are
recorded in `header_faults` for triage to act on (it quarantines the message as malformed).
Nesting is bounded: a message with more than MAX_MULTIPARTS multipart declarations is read for
its headers only, since the standard library's parser recurses once per level."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.header
import email.parser
import email.policy
import hashlib
import itertools
import logging
import re
from email.message import EmailMessage, Message
from email.utils import getaddresses

from safeguard.adapters.mail.bounces import read_bounce
from safeguard.adapters.mail.set_aside import SetAside, set_aside
from safeguard.domain.message import Attachment, Inbound

_TRACE_HEADERS = {"received", "return-path", "delivered-to", "x-original-to", "dkim-signature",
                  "authentication-results", "arc-seal", "arc-message-signature", "arc-authentication-results"}
MAX_PARTS = 200
# RFC 3834 and the headers mail systems put on automatic replies (Exchange's loop header included).
_AUTOMATIC_HEADERS = ("X-Autoreply", "X-Autorespond", "X-MS-Exchange-Inbox-Rules-Loop")
_AUTOMATIC_PRECEDENCE = ("bulk", "junk", "auto_reply", "list")
# Subjects that automatic replies, read receipts and delivery reports start with (a person may well write
# "out of office hours" in a subject, so only a prefix counts).
_AUTOMATIC_SUBJECT = re.compile(r"^\s*(?:automatic reply|auto[- ]?reply|autoreply|out of (?:the )?office|"
                                r"read|not read|delivered|undeliverable|delivery status notification)\s*:",
                                re.IGNORECASE)
# nesting levels (at most): far more than any real message, far below the recursion limit
MAX_MULTIPARTS = 100
_MULTIPART = re.compile(rb"multipart/", re.IGNORECASE)
log = logging.getLogger(__name__)


def _addresses(msg: Message, header: str, faults: list[str]) -> list[str]:
    try:
        values = msg.get_all(header) or []
        pairs = getaddresses([str(v) for v in values])
    except Exception:  # noqa: BLE001 - any header fault is the same fault to us
        faults.append(f"the {header} header cannot be read")
        return []
    addresses = [addr.strip().lower() for _, addr in pairs if "@" in addr]
    if any(not _plain_address(a) for a in addresses):
        faults.append(f"the {header} address contains invisible or non-ASCII characters "
                      "(a possible disguise)")
        return []
    return addresses


def _plain_address(address: str) -> bool:
    """Printable ASCII only: bidi overrides, zero-width and look-alike letters disguise a sender.
    (Internationalised addresses are not used by the NHS or councils.)"""
    return address.isascii() and address.isprintable() and " " not in address


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except Exception:  # noqa: BLE001 - an unknown charset name, or a codec that fails whatever `errors` says
        return payload.decode("latin-1", errors="replace")


def parse_inbound(raw: bytes, max_attachment: int | None = None) -> Inbound:
    """The message as we use it. Never raises: a message whose structure cannot be read is read
    for its headers alone, with a fault that quarantines it. An attachment larger than
    `max_attachment` bytes is not decoded (it would be refused all the same): that keeps a large
    message's memory to the parser's own."""
    if _too_deep(raw):
        return _headers_only(raw, "the message has too many nested parts")
    try:
        smaller, aside = set_aside(raw)
        return _parse(email.message_from_bytes(smaller, policy=email.policy.compat32), raw, max_attachment,
                      aside)
    except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError's kin: a property of the message
        log.warning("a message's structure could not be read (%s)", type(exc).__name__)
        return _headers_only(raw, "the message's structure cannot be read")


def _too_deep(raw: bytes) -> bool:
    return sum(1 for _ in itertools.islice(_MULTIPART.finditer(raw), MAX_MULTIPARTS + 1)) > MAX_MULTIPARTS


def _headers_only(raw: bytes, fault: str) -> Inbound:
    try:
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
        msg.set_payload("")
        inbound = _parse(msg, raw)
    except Exception:  # noqa: BLE001 - not even the headers: nothing but the fault
        inbound = Inbound(None, None, None, "", None, None, content_sha256=hashlib.sha256(raw).hexdigest())
        inbound.dedup_key = hashlib.sha256(raw).hexdigest()
    inbound.header_faults.append(fault)
    return inbound


def _parse(msg: Message, raw: bytes, max_attachment: int | None = None,
           aside: SetAside | None = None) -> Inbound:
    faults: list[str] = []
    senders = _addresses(msg, "From", faults)
    if len(msg.get_all("From") or []) > 1 or len(senders) > 1:
        faults.append("the message has more than one sender")
    if not senders:
        faults.append("the message has no sender address")
    reply_to = _addresses(msg, "Reply-To", faults)
    subject = _header(msg, "Subject")
    inbound = Inbound(
        message_id=_header(msg, "Message-ID").strip() or None,
        sender=senders[0] if len(senders) == 1 else None,
        reply_to=reply_to[0] if reply_to else None,
        subject=subject,
        text_body=None,
        html_body=None,
        header_faults=faults,
        content_sha256=hashlib.sha256(raw).hexdigest(),
    )
    inbound.automatic = _automatic(msg, subject)
    inbound.auth_results = tuple(_all(msg, "Authentication-Results"))
    inbound.exchange_auth_as = _header(msg, "X-MS-Exchange-Organization-AuthAs") or None
    _walk(msg, inbound, max_attachment, aside or SetAside())
    inbound.bounce = read_bounce(msg)
    inbound.dedup_key = _dedup_key(raw, inbound)
    return inbound


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        if value is None:
            return ""
        decoded = email.header.make_header(email.header.decode_header(str(value)))
        return " ".join(str(decoded).split())[:998]
    except Exception:  # noqa: BLE001 - undecodable header: keep the raw text
        return " ".join(str(msg.get(name, "")).split())[:998]


def _automatic(msg: Message, subject: str) -> bool:
    auto = _header(msg, "Auto-Submitted").lower().partition(";")[0].strip()
    return (auto not in ("", "no") or _header(msg, "Precedence").lower() in _AUTOMATIC_PRECEDENCE
            or any(msg.get(name) is not None for name in _AUTOMATIC_HEADERS)
            or msg.get_content_type() == "multipart/report"  # read receipts and delivery reports
            or _AUTOMATIC_SUBJECT.search(subject) is not None)


def _all(msg: Message, name: str) -> list[str]:
    try:
        return [" ".join(str(v).split())[:2000] for v in msg.get_all(name) or []]
    except Exception:  # noqa: BLE001 - an unreadable header vouches for nothing
        return []


def _walk(msg: Message, inbound: Inbound, max_attachment: int | None, aside: SetAside) -> None:
    for count, part in enumerate(msg.walk()):
        if count > MAX_PARTS:
            inbound.header_faults.append("the message has too many parts")
            return
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        # 8-bit values come as Header objects
        disposition = str(part.get("Content-Disposition") or "").lower()
        span = aside.span(part.get_payload())
        if filename or "attachment" in disposition:
            attachment = _attachment(part, _clean_filename(filename), max_attachment, aside, span)
            inline = bool(part.get("Content-ID")) and "attachment" not in disposition
            inbound.attachments.append(dataclasses.replace(attachment, inline=True) if inline else attachment)
            continue
        if span is not None:
            part.set_payload(aside.body(span))
        if ctype == "text/plain" and inbound.text_body is None:
            inbound.text_body = _text(part)
        elif ctype == "text/html" and inbound.html_body is None:
            inbound.html_body = _text(part)


def _attachment(part: Message, filename: str, max_attachment: int | None, aside: SetAside,
                span: tuple[int, int] | None) -> Attachment:
    """An attachment larger than `max_attachment` (as far as its encoded length tells) is not decoded:
    it is refused all the same, and decoding it would cost memory for nothing."""
    payload = part.get_payload()
    encoded = span[1] - span[0] if span else len(payload) if isinstance(payload, str) else 0
    if max_attachment is not None and encoded * 3 // 4 > max_attachment:
        return Attachment(filename, part.get_content_type(), b"", undecoded_size=encoded * 3 // 4)
    if span is not None and str(part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64":
        return Attachment(filename, part.get_content_type(), aside.decoded(span))
    if span is not None:
        part.set_payload(aside.body(span))
    return Attachment(filename, part.get_content_type(), part.get_payload(decode=True) or b"")


def _clean_filename(name: str | None) -> str:
    if not name:
        return "unnamed"
    with contextlib.suppress(Exception):  # an undecodable name is used as it stands
        name = str(email.header.make_header(email.header.decode_header(name)))
    return "".join(ch for ch in name if ch.isprintable() and ch not in "/\\")[:200] or "unnamed"


def _dedup_key(raw: bytes, inbound: Inbound) -> str:
    """Two deliveries of one message share a key: Message-ID and sender when there is one,
    else the message less its trace headers (which differ per delivery)."""
    if inbound.message_id:
        basis = f"{inbound.message_id.lower()}|{inbound.sender or ''}".encode()
    else:
        head, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        kept = [line for line in head.splitlines()
                if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in _TRACE_HEADERS]
        basis = b"\n".join(kept) + b"\n\n" + body
    return hashlib.sha256(basis).hexdigest()


__all__ = ["Attachment", "EmailMessage", "Inbound", "parse_inbound"]
