"""Large encoded bodies are set aside before parsing and put back only when used: the message reads
exactly as it would without, and an attachment too large to be read is never decoded."""

from __future__ import annotations

import email
import email.policy
import os
from email.message import EmailMessage

from safeguard.adapters.mail.inbound import _parse, parse_inbound
from safeguard.adapters.mail.set_aside import MIN_BYTES, set_aside
from testkit import samples

SW = "tamsin.holloway@coventry-council.test"


def plain(raw: bytes, max_attachment: int | None = None):
    return _parse(email.message_from_bytes(raw, policy=email.policy.compat32), raw, max_attachment)


def big_message(*sizes: int, text: str = "Form attached.\n") -> bytes:
    return samples.submission(SW, "x@y.test", body=text, attachments=[
        (f"file{n}.xlsx", os.urandom(size)) for n, size in enumerate(sizes)])


def test_a_message_with_large_attachments_reads_exactly_as_without_setting_them_aside() -> None:
    raw = big_message(3 * MIN_BYTES, 2 * MIN_BYTES, 1000)
    smaller, aside = set_aside(raw)
    assert len(aside.spans) == 2 and len(smaller) < MIN_BYTES
    assert parse_inbound(raw) == plain(raw)
    assert [a.data for a in parse_inbound(raw).attachments] == [a.data for a in plain(raw).attachments]


def test_an_attachment_over_the_limit_is_listed_with_its_size_but_never_decoded() -> None:
    raw = big_message(3 * MIN_BYTES, 1000)
    big, small = parse_inbound(raw, max_attachment=2 * MIN_BYTES).attachments
    assert big.data == b"" and abs(big.size - 3 * MIN_BYTES) < 64 * 1024
    assert small.size == len(small.data) == 1000


def test_a_large_text_body_is_put_back_when_it_is_read() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SW, "x@y.test", "big"
    body = "Alert type: Missing child\n" + "x" * (3 * MIN_BYTES) + "\n"
    msg.set_content(body, cte="base64")
    raw = msg.as_bytes()
    assert set_aside(raw)[1].spans
    assert parse_inbound(raw).text_body == plain(raw).text_body == body


def test_a_run_that_does_not_reach_a_boundary_is_left_where_it_is() -> None:
    raw = (f"From: {SW}\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n".encode()
           + b"A" * (2 * MIN_BYTES) + b" and then words\r\n")
    assert set_aside(raw)[1].spans == {}
    assert parse_inbound(raw).text_body == plain(raw).text_body


def test_small_messages_are_not_touched() -> None:
    raw = big_message(1000)
    assert set_aside(raw) == (raw, set_aside(b"")[1])
