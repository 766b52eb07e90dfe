"""Compose an RFC 5322 message from rendered text and HTML."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from safeguard.notify.render import Rendered


def message_id_for(key: str, domain: str) -> str:
    """Deterministic per outbox key, so a resent notice is recognisably the same notice."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def compose(rendered: Rendered, *, sender: str, sender_name: str, recipients: list[str], message_id: str,
            at: datetime, in_reply_to: str | None = None, auto_reply: bool = False,
            attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f'"{sender_name}" <{sender}>'
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = message_id
    # RFC 3834: our messages are automatic; well-behaved responders will not answer them.
    msg["Auto-Submitted"] = "auto-replied" if auto_reply else "auto-generated"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    for filename, data in attachments:
        msg.add_attachment(data, maintype="application", filename=filename,
                           subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return msg.as_bytes()
