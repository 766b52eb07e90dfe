"""Reading delivery-status notifications (bounces), on a real Postfix bounce and on Exchange
Online's documented shape, and what triage decides about each."""

from __future__ import annotations

import base64

from safeguard.adapters.mail.inbound import parse_inbound
from safeguard.adapters.notify.compose import message_id_for
from safeguard.domain.commands import BounceReport
from safeguard.domain.triage import AlertFacts, SentFacts, triage
from testkit import samples
from tests.conftest import TODAY
from tests.factories import INBOX, SW
from tests.samples.build import POSTFIX_BOUNCE, delayed_dsn, exchange_online_ndr

OURS = "<0123456789abcdef0123456789abcdef01234567@example-icb.test>"
UHCW = "safeguarding@uhcw.test"


def no_alert(_reference: str) -> AlertFacts | None:
    return None


def sent(message_id: str) -> SentFacts | None:
    return SentFacts(7, "notice:alert", "HSA-2026-000001") if message_id == OURS else None


def test_a_real_postfix_bounce_gives_the_original_message_id_the_recipient_and_the_status() -> None:
    bounce = parse_inbound(POSTFIX_BOUNCE.read_bytes()).bounce
    assert bounce is not None
    assert len(bounce.original_ids) == 1 and bounce.original_ids[0].endswith("@example-icb.test>")
    [failed] = bounce.failed
    assert failed.address.startswith("nobody#") and failed.status == "5.1.1"
    assert failed.diagnostic.startswith("550 5.1.1 <nobody#") and "User doesn't exist" in failed.diagnostic
    assert "test notice" not in failed.describe()  # the returned message's content is not kept


def test_an_exchange_online_ndr_gives_the_original_message_id_and_the_resolver_diagnostic() -> None:
    bounce = parse_inbound(exchange_online_ndr(OURS, UHCW)).bounce
    assert bounce is not None and bounce.original_ids == (OURS,)
    [failed] = bounce.failed
    assert (failed.address, failed.status) == (UHCW, "5.1.10")
    assert failed.diagnostic == \
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"


def test_a_delay_report_lists_no_failure() -> None:
    bounce = parse_inbound(delayed_dsn(OURS, UHCW)).bounce
    assert bounce is not None and bounce.failed == () and bounce.delayed == (UHCW,)


def test_an_ordinary_message_and_an_out_of_office_are_not_bounces() -> None:
    assert parse_inbound(samples.submission(SW, INBOX, body="Hello")).bounce is None
    auto = samples.submission(SW, INBOX, subject="Automatic reply",
                              extra_headers={"Auto-Submitted": "auto-replied"})
    assert parse_inbound(auto).bounce is None


def test_a_report_whose_status_part_is_base64_is_still_read() -> None:
    raw = exchange_online_ndr(OURS, UHCW).decode()
    status_part = raw[raw.index("Reporting-MTA"):
                      raw.index("--_000_DB9PR01MB1234AAA_\r\nContent-Type: text/rfc822")]
    encoded = base64.encodebytes(status_part.encode()).decode().replace("\n", "\r\n")
    raw = raw.replace("Content-Type: message/delivery-status\r\n\r\n" + status_part,
                      "Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                      + encoded)
    bounce = parse_inbound(raw.encode()).bounce
    assert bounce is not None and [f.status for f in bounce.failed] == ["5.1.10"]


def test_a_report_without_a_readable_status_part_falls_back_to_flufl_bounce_for_the_address() -> None:
    raw = (f"From: postmaster@legacy.test\r\nTo: {INBOX}\r\nSubject: Undeliverable\r\nIn-Reply-To: {OURS}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
           "boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nYour message\r\n\r\n"
           "did not reach the following recipient(s):\r\n\r\nold@legacy.test on 23/11/2026 10:00\r\n"
           "    The e-mail account does not exist at the organization\r\n    MSEXCH:IMS:LEGACY\r\n"
           "--b\r\nContent-Type: message/delivery-status\r\n\r\nunreadable\r\n--b--\r\n").encode()
    bounce = parse_inbound(raw).bounce
    assert bounce is not None and bounce.original_ids == (OURS,)
    assert [(f.address, f.status) for f in bounce.failed] == [("old@legacy.test", "")]


def test_a_long_diagnostic_is_trimmed_to_one_printable_line() -> None:
    raw = exchange_online_ndr(OURS, UHCW).replace(b"Recipient not found by SMTP address lookup",
                                                  b"x" * 1000 + b"\r\n  \xe2\x80\xae more")
    [failed] = parse_inbound(raw).bounce.failed  # type: ignore[union-attr]
    assert len(failed.diagnostic) <= 200 and failed.diagnostic.isascii() and failed.diagnostic.isprintable()


def test_a_bounce_of_an_email_we_sent_is_recorded_and_never_answered(config) -> None:
    d = triage(parse_inbound(exchange_online_ndr(OURS, UHCW)), config, TODAY, no_alert, sent)
    assert (d.kind, d.outcome, d.reason, d.folder, d.reply, d.tell_admin) == \
        ("bounce", "recorded", "bounce", "Processed", None, False)
    assert d.alert_ref == "HSA-2026-000001" and d.command is not None
    assert isinstance(d.command, BounceReport) and (d.command.outbox_id, d.command.status) == (7, "5.1.10")


def test_a_bounce_of_anything_else_changes_nothing_and_is_never_answered(config) -> None:
    other = "<someone-elses@example.org>"
    d = triage(parse_inbound(exchange_online_ndr(other, UHCW)), config, TODAY, no_alert, sent)
    assert (d.outcome, d.reason, d.reply, d.tell_admin, d.command) == \
        ("recorded", "bounce-unmatched", None, False, None)
    d = triage(parse_inbound(POSTFIX_BOUNCE.read_bytes()), config, TODAY, no_alert)  # no register at all
    assert (d.outcome, d.reason, d.reply) == ("recorded", "bounce-unmatched", None)


def test_a_failure_to_deliver_the_mailboxs_own_copy_does_not_fail_the_email(config) -> None:
    ours = config.settings.service.mailbox_address  # the IMAP adapter's copy to itself
    d = triage(parse_inbound(exchange_online_ndr(OURS, ours)), config, TODAY, no_alert, sent)
    assert (d.outcome, d.reason, d.reply, d.command) == ("recorded", "own-copy-undelivered", None, None)


def test_a_delay_report_about_our_email_is_filed_and_changes_nothing(config) -> None:
    d = triage(parse_inbound(delayed_dsn(OURS, UHCW)), config, TODAY, no_alert, sent)
    assert (d.outcome, d.reason, d.reply, d.command) == ("recorded", "bounce-delayed", None, None)


def test_our_message_ids_are_random_so_a_forger_cannot_work_one_out_from_a_reference() -> None:
    key = "notice:HSA-2026-000001:v1:UHCW:alert"
    made = {message_id_for(key, "example-icb.test") for _ in range(50)}
    assert len(made) == 50 and all(len(m) == len("<@example-icb.test>") + 40 for m in made)
