"""A photo sent with a form, end to end on the real Dovecot/Postfix: the social worker's email with
a phone's JPEG (GPS in its EXIF) reaches the safeguarding mailbox over SMTP, intake and approval run
as the CLI, and each listed provider's own IMAP mailbox holds a notice with an image/jpeg part that
carries no EXIF; providers not listed get nothing."""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from PIL import Image

from testkit import samples
from tests.conftest import subject_of
from tests.factories import fields, people
from tests.integration.test_dispatch_crash import cli
from tests.integration.test_outages import plain
from tests.mailstack import read_inbox, smtp_deliver, stack_config

pytestmark = pytest.mark.mailstack


def test_each_provider_receives_the_photo_as_an_image_jpeg_part_without_exif(tmp_path: Path,
                                                                             register_url: str) -> None:
    stack = stack_config(tmp_path, register_url)
    form = samples.text_form(fields(**{"Social worker email": stack.social_worker, "Photo attached": "Yes"}),
                             people())
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, body=form,
                                    attachments=[("IMG_0001.jpg", samples.photo_with_gps())]),
                 stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    plain(cli(stack, "intake", "--once", "--without-prefect"))
    plain(cli(stack, "approve", "HSA-2026-000001", "--by", "Dana Nightingale"))
    for code in ("UHCW", "SWFT"):
        [raw] = read_inbox(stack.providers[code], 1)
        assert subject_of(raw) == f"HSA-2026-000001: HEALTH ALERT for {code}: Missing child (URGENT)"
        notice = message_from_bytes(raw, policy=policy.default)
        [part] = [p for p in notice.walk() if p.get_content_maintype() == "image"]
        assert part.get_content_type() == "image/jpeg" and part.get_filename() == "photo-1.jpg"
        image = Image.open(io.BytesIO(part.get_content()))
        assert image.format == "JPEG" and dict(image.getexif()) == {} and "exif" not in image.info
    for code in ("GEH", "CWPT", "WMAS", "BHAM"):
        assert read_inbox(stack.providers[code], 0, timeout=0) == []
