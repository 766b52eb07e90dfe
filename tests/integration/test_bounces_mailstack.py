"""A bounce end to end on the real Dovecot and Postfix: an approved alert's notice goes over SMTP to a
provider address that does not exist, Postfix bounces it into the safeguarding mailbox, and the
next intake run fails that provider's delivery and emails the admin team."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from safeguard.adapters.register.db import make_engine
from safeguard.adapters.register.orm import Delivery, InboundMessage
from safeguard.adapters.register.uow import uow_factory
from testkit import samples
from tests.conftest import subject_of
from tests.factories import fields, people
from tests.integration.test_outages import cli, plain
from tests.mailstack import StackConfig, left_in_inbox, read_inbox, smtp_deliver, stack_config
from tests.samples.build import unknown_recipient

pytestmark = pytest.mark.mailstack


def approve_with_uhcw_at(tmp_path: Path, register_url: str, address: Callable[[str], str]) -> StackConfig:
    """An alert approved and its notices sent, UHCW's to `address(its directory mailbox)`."""
    stack = stack_config(tmp_path, register_url)
    path = stack.directory / "providers.yaml"
    directory = yaml.safe_load(path.read_text())
    for provider in directory["providers"]:
        if provider["code"] == "UHCW":
            provider["mailbox"] = address(provider["mailbox"])
    path.write_text(yaml.safe_dump(directory))
    form = samples.xlsx_form(fields(**{"Social worker email": stack.social_worker}), people())
    smtp_deliver(samples.submission(stack.social_worker, stack.mailbox, attachments=[("form.xlsx", form)]),
                 stack.mailbox, stack.social_worker)
    read_inbox(stack.mailbox, 1)
    plain(cli(stack, "intake", "--once", "--without-prefect"))
    plain(cli(stack, "approve", "HSA-2026-000001", "--by", "Dana Nightingale"))
    plain(cli(stack, "send-unsent"))
    return stack


def deliveries(register_url: str) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(register_url)
    try:
        with uow_factory(engine)() as u:
            return {d.provider_code: (d.status, d.failure) for d in u.session.scalars(select(Delivery))}
    finally:
        engine.dispose()


def test_a_notice_postfix_bounces_fails_the_delivery_and_the_admin_team_is_told(tmp_path: Path,
                                                                                 register_url: str) -> None:
    # Postfix accepts the address, then Dovecot has no such user: Postfix sends a real bounce.
    stack = approve_with_uhcw_at(tmp_path, register_url,
                                 lambda mailbox: unknown_recipient(mailbox.split("-")[-1].split("@")[0]))
    bounce = _wait_for_bounce(stack.mailbox)
    assert b"report-type=delivery-status" in bounce and b"MAILER-DAEMON" in bounce
    plain(cli(stack, "intake", "--once", "--without-prefect"))
    engine = make_engine(register_url)
    try:
        with uow_factory(engine)() as u:
            uhcw, swft = (u.session.scalars(select(Delivery).where(Delivery.provider_code == code)).one()
                          for code in ("UHCW", "SWFT"))
            assert (uhcw.status, swft.status) == ("failed", "notified")
            assert uhcw.failed_at is not None and (uhcw.failure or "").startswith("bounced: 5.1.1 550 5.1.1")
            bounce_row = u.session.scalars(select(InboundMessage)
                                           .where(InboundMessage.kind == "bounce")).one()
            assert ((bounce_row.outcome, bounce_row.reason, bounce_row.folder)
                    == ("recorded", "bounce", "Processed"))
    finally:
        engine.dispose()
    told = [subject_of(m) for m in read_inbox(stack.admin, 1)]
    assert any(s.startswith("HSA-2026-000001: the alert notice to University Hospitals Coventry") and
               "could not be delivered (5.1.1): phone the provider today" in s for s in told), told
    assert left_in_inbox(stack.mailbox) == []  # the bounce was filed, not left in INBOX


def _wait_for_bounce(mailbox: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in read_inbox(mailbox, 1, timeout=1):
            if b"multipart/report" in message:
                return message
        time.sleep(0.2)
    raise AssertionError("Postfix's bounce did not reach the safeguarding mailbox")


def test_a_notice_the_mail_server_refuses_at_once_also_fails_the_delivery(
        tmp_path: Path, register_url: str) -> None:
    approve_with_uhcw_at(tmp_path, register_url, lambda mailbox: "refuse-" + mailbox)  # refused at RCPT TO
    found = deliveries(register_url)
    assert found["SWFT"] == ("notified", None)
    assert found["UHCW"][0] == "failed" and (found["UHCW"][1] or "").startswith("refused for good")
