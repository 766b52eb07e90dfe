"""Reading delivery-status notifications (bounces): RFC 3464 `multipart/report;
report-type=delivery-status`, the shape Postfix, Exchange and Exchange Online all send.

What is kept is small and content-free: the Message-ID(s) of the email that could not be
delivered (from the returned headers, In-Reply-To and References), and for each recipient that
failed for good its address, its status code (5.1.1) and the receiving server's diagnostic,
trimmed. A delay report (Action: delayed, 4.x.x) lists no failure: the mail is still trying.

The status codes and the original Message-ID are read here; flufl.bounce only returns addresses
(`all_failures` gives the temporary and permanent ones, `scan_message` only the permanent), so
it is used only as a fallback for a report whose delivery-status part cannot be read.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import quopri
import re
from email.message import Message
from email.parser import HeaderParser

from flufl.bounce import all_failures

from safeguard.domain.message import Bounce, FailedRecipient

MAX_RECIPIENTS = 50  # per-recipient blocks read from one report
MAX_IDS = 10  # original Message-IDs kept
DIAGNOSTIC_CHARS = 200
_ID = re.compile(r"<[^<>\s\"]{1,900}>")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
# flufl.bounce logs each detector it runs, and a detector's exception with its traceback: neither
# belongs in our logs (a traceback can quote the message).
logging.getLogger("flufl.bounce").disabled = True


def is_report(msg: Message) -> bool:
    return msg.get_content_type() == "multipart/report" and \
        str(msg.get_param("report-type") or "").strip().lower() == "delivery-status"


def read_bounce(msg: Message) -> Bounce | None:
    """The delivery-status notification in msg, or None if it is not one (or cannot be read, in
    which case it is treated as any other automatic message)."""
    if not is_report(msg):
        return None
    try:
        return _read(msg)
    except Exception:  # noqa: BLE001 - an unreadable report is an ordinary automatic message
        return None


def _read(msg: Message) -> Bounce:
    ids: list[str] = []
    failed: list[FailedRecipient] = []
    delayed: list[str] = []
    parts = msg.get_payload()
    for part in parts if isinstance(parts, list) else []:
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            _recipients(_blocks(part), failed, delayed)
        elif ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                ids += _ids(str(inner[0].get("Message-ID", "")))
        elif ctype == "text/rfc822-headers":
            headers = HeaderParser().parsestr(_decoded(part)[:64 * 1024], headersonly=True)
            ids += _ids(str(headers.get("Message-ID", "")))
    for header in ("In-Reply-To", "References"):
        ids += _ids(str(msg.get(header, "")))
    if not failed and not delayed:
        _fallback(msg, failed, delayed)
    return Bounce(tuple(dict.fromkeys(ids))[:MAX_IDS], tuple(failed), tuple(dict.fromkeys(delayed)))


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part: parsed by the email package, or
    (when the part was transfer-encoded) parsed here."""
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list) and encoding not in ("base64", "quoted-printable"):
        return payload[:MAX_RECIPIENTS + 1]
    if isinstance(payload, list):  # the email package split the encoded text as if it were header blocks
        encoded = "".join(block.as_string() for block in payload)[:256 * 1024]
        octets = base64.b64decode("".join(encoded.split())) if encoding == "base64" else \
            quopri.decodestring(encoded.encode("ascii", "replace"))
        text = octets.decode("utf-8", errors="replace")
    else:
        text = _decoded(part)
    text = text.replace("\r\n", "\n")
    return [HeaderParser().parsestr(block.strip() + "\n")
            for block in re.split(r"\n[ \t]*\n", text)[:MAX_RECIPIENTS + 1] if block.strip()]


def _recipients(blocks: list[Message], failed: list[FailedRecipient], delayed: list[str]) -> None:
    for block in blocks[1:]:  # the first block describes the report, the rest one recipient each
        action = _one_line(block.get("Action", "")).split("(")[0].strip().lower()
        status_match = _STATUS.search(_one_line(block.get("Status", "")))
        diagnostic = _diagnostic(block.get("Diagnostic-Code", ""))
        status = status_match.group(1) if status_match else ""
        if not status and (in_text := _STATUS.search(diagnostic)):
            status = in_text.group(1)
        address = _address(block.get("Original-Recipient", "")) or _address(block.get("Final-Recipient", ""))
        if action.startswith(("fail", "error")) or (not action and status.startswith("5")):
            failed.append(FailedRecipient(address, status, diagnostic))  # opensmtpd says "error"
        elif action.startswith("delayed"):
            delayed.append(address)


def _fallback(msg: Message, failed: list[FailedRecipient], delayed: list[str]) -> None:
    """flufl.bounce's detectors, when the report's own delivery-status part gave nothing: the
    addresses only, with no status."""
    with contextlib.suppress(Exception):
        temporary, permanent = all_failures(msg)
        failed += [FailedRecipient(a.decode("ascii", "replace").lower(), "", "") for a in sorted(permanent)][
            :MAX_RECIPIENTS]
        delayed += [a.decode("ascii", "replace").lower() for a in sorted(temporary)][:MAX_RECIPIENTS]


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


def _one_line(value: object) -> str:
    return " ".join(str(value or "").split())


def _address(value: object) -> str:
    """`rfc822; someone@example.org` (or a bare or angle-bracketed address) to the address."""
    text = _one_line(value)
    if ";" in text:
        text = text.split(";", 1)[1]
    address = text.strip().strip("<>").strip().lower()
    return address if "@" in address and address.isascii() and address.isprintable() and " " not in address \
        and len(address) <= 320 else ""


def _diagnostic(value: object) -> str:
    """`smtp; 550 5.1.1 <x@y> User unknown` to `550 5.1.1 <x@y> User unknown`, printable ASCII,
    one line, at most DIAGNOSTIC_CHARS."""
    text = _one_line(value)
    kind, sep, rest = text.partition(";")
    if sep and kind.strip().isalpha() and len(kind.strip()) <= 20:
        text = rest.strip()
    text = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in text)
    return text if len(text) <= DIAGNOSTIC_CHARS else text[:DIAGNOSTIC_CHARS - 3] + "..."


def _ids(value: str) -> list[str]:
    return _ID.findall(value[:16 * 1024])[:MAX_IDS]


__all__ = ["Bounce", "FailedRecipient", "is_report", "read_bounce"]
