"""Capture real delivery-status notifications for the tests: a notice-shaped email (no personal
data) is sent through the running Postfix (scripts/mailstack.sh start) to a recipient Dovecot
does not have, and the bounce Postfix writes back to the sender is saved as it arrived.

Regenerate with: .venv/bin/python -m tests.samples.build
(the files are committed, so a test never depends on the capture.)

Dovecot's test user database accepts every *.test address whose local part is made of letters,
digits and . - _; a '#' in the local part makes it answer "550 5.1.1 User doesn't exist" at LMTP
time, after Postfix has accepted the message, so Postfix sends a real bounce.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from safeguard.adapters.notify.compose import compose, message_id_for
from safeguard.adapters.notify.render import Rendered
from tests.mailstack import read_inbox, smtp_deliver

HERE = Path(__file__).parent
POSTFIX_BOUNCE = HERE / "postfix-bounce.eml"


def unknown_recipient(tag: str, domain: str = "uhcw.test") -> str:
    """An address Postfix accepts and Dovecot then refuses (see the module docstring)."""
    return f"nobody#{tag}@{domain}"


def capture_postfix_bounce(timeout: float = 20.0) -> bytes:
    tag = uuid.uuid4().hex[:8]
    sender = f"safeguarding-{tag}@example-icb.test"
    message_id = message_id_for("", "example-icb.test")
    raw = compose(Rendered("HSA-2026-000001: health alert (test capture)", "A test notice with no content.\n",
                           "<p>A test notice with no content.</p>"),
                  sender=sender, sender_name="Safeguarding",
                  recipients=[unknown_recipient(tag)], message_id=message_id, at=datetime.now(UTC))
    smtp_deliver(raw, unknown_recipient(tag), sender)
    for message in read_inbox(sender, 1, timeout):
        if message_id.encode() in message:
            return message
    raise RuntimeError("Postfix's bounce did not arrive: "
                       "is the mail stack running (scripts/mailstack.sh start)?")


def main() -> None:
    POSTFIX_BOUNCE.write_bytes(capture_postfix_bounce())
    sys.stdout.write(f"wrote {POSTFIX_BOUNCE}\n")


if __name__ == "__main__":
    main()


def exchange_online_ndr(original_id: str, recipient: str,
                        sender: str = "safeguarding@example-icb.test") -> bytes:
    """A non-delivery report in the shape Exchange Online sends (multipart/report delivery-status,
    X-MS-Exchange-Message-Is-Ndr, In-Reply-To the original, the original's headers returned as
    text/rfc822-headers, and the RESOLVER.ADR.RecipientNotFound diagnostic for an address that no
    longer exists)."""
    host = "DB9PR01MB1234.eurprd01.prod.exchangelabs.com"
    boundary = "_000_DB9PR01MB1234AAA_"
    return _crlf(f"""From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@nhs.net>
To: <{sender}>
Date: Mon, 23 Nov 2026 10:15:02 +0000
Content-Type: multipart/report; report-type="delivery-status";
\tboundary="{boundary}"
Content-Language: en-GB
Message-ID: <9f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b@{host}>
In-Reply-To: {original_id}
References: {original_id}
Thread-Topic: HSA-2026-000001: health alert
Thread-Index: AQHZ1234567890abcdefABCDEFGHIJ==
Subject: Undeliverable: HSA-2026-000001: health alert
Auto-Submitted: auto-replied
X-MS-Has-Attach: yes
X-MS-Exchange-Organization-SCL: -1
X-MS-TNEF-Correlator:
X-MS-Exchange-Message-Is-Ndr:
X-MS-PublicTrafficType: Email
MIME-Version: 1.0

--{boundary}
Content-Type: multipart/alternative; boundary="_001_alt_"

--_001_alt_
Content-Type: text/plain; charset="us-ascii"

Your message to {recipient} couldn't be delivered.
{recipient.split("@")[0]} wasn't found at {recipient.split("@")[1]}.

Action Required
Recipient: {recipient}

Unknown To address

How to Fix It
The address may be misspelled or may not exist.

--_001_alt_
Content-Type: text/html; charset="us-ascii"

<html><body><p>Your message to {recipient} couldn't be delivered.</p></body></html>

--_001_alt_--

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns;{host}
Received-From-MTA: dns;LO2P265MB0001.GBRP265.PROD.OUTLOOK.COM
Arrival-Date: Mon, 23 Nov 2026 10:15:01 +0000

Original-Recipient: rfc822;{recipient}
Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup
Remote-MTA: dns;{host}
X-Display-Name: {recipient}

--{boundary}
Content-Type: text/rfc822-headers

Received: from mx.example-icb.test (192.0.2.10) by LO2P265MB0001.GBRP265.PROD.OUTLOOK.COM
 with Microsoft SMTP Server id 15.20.1234.5; Mon, 23 Nov 2026 10:15:01 +0000
From: Safeguarding <{sender}>
To: {recipient}
Subject: HSA-2026-000001: health alert
Date: Mon, 23 Nov 2026 10:15:00 +0000
Message-ID: {original_id}
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_abc"

--{boundary}--
""")


def delayed_dsn(original_id: str, recipient: str, sender: str = "safeguarding@example-icb.test") -> bytes:
    """Postfix's delay warning: Action: delayed, Status 4.4.1, still being retried."""
    boundary = "8F2A116E0C1.1796100000/mail.uhcw.test"
    return _crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mail.uhcw.test>
To: {sender}
Subject: Delayed Mail (still being retried)
Date: Mon, 23 Nov 2026 14:00:00 +0000 (UTC)
Message-Id: <20261123140000.8F2A116E0C1@mail.uhcw.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.uhcw.test.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for 4.0 hours.
It will be retried until it is 5.0 days old.

<{recipient}>: connect to nhs-mx.example[192.0.2.25]:25: Connection timed out

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.uhcw.test
X-Postfix-Queue-ID: 8F2A116E0C1
X-Postfix-Sender: rfc822; {sender}
Arrival-Date: Mon, 23 Nov 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to nhs-mx.example[192.0.2.25]:25: Connection
    timed out
Will-Retry-Until: Sat, 28 Nov 2026 10:00:00 +0000 (UTC)

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Safeguarding <{sender}>
To: {recipient}
Subject: HSA-2026-000001: health alert
Message-ID: {original_id}

--{boundary}--
""")


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")
