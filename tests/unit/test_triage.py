from datetime import date

from safeguard.domain.commands import Extend, Withdraw
from safeguard.domain.triage import AlertFacts, triage
from safeguard.service_layer.attachments import read_message
from testkit import samples
from tests.conftest import TODAY
from tests.factories import INBOX, SW, TM, text_submission, xlsx_submission

REF = "HSA-2026-000042"
ON_RECORD = frozenset({SW, TM})


def find(status: str = "ACTIVE"):
    return lambda ref: AlertFacts(REF, status, ON_RECORD, frozenset({"safeguarding@uhcw.test"}),
                                  "Missing child", date(2026, 11, 1)) if ref == REF else None


def decide(raw: bytes, config, status: str = "ACTIVE"):
    return triage(read_message(raw, config), config, TODAY, find(status))


def test_a_valid_form_is_accepted_with_a_reply(config) -> None:
    d = decide(xlsx_submission(), config)
    assert (d.outcome, d.folder, d.reply) == ("accepted", "Processed", "submission_received")


def test_an_unauthorised_sender_is_quarantined_without_a_reply(config) -> None:
    d = decide(samples.submission("someone@freemail.test", INBOX, body="Alert type: Missing child"), config)
    assert (d.outcome, d.reason, d.reply, d.tell_admin) == ("quarantined", "unauthorised-sender", None, True)


def test_a_homoglyph_sender_domain_is_not_authorised(config) -> None:
    raw = text_submission().replace(SW.encode(), "sw@coventry-counсil.test".encode(), 1)  # Cyrillic 'с'
    d = decide(raw, config)
    assert d.reason in ("unauthorised-sender", "malformed")


def test_a_right_to_left_override_in_the_sender_is_not_authorised(config) -> None:
    raw = text_submission().replace(SW.encode(), "sw@evil‮tset.licnuoc-yrtnevoc".encode(), 1)
    assert decide(raw, config).outcome == "quarantined"


def test_a_forged_from_with_a_foreign_reply_to_is_quarantined(config) -> None:
    raw = samples.submission(SW, INBOX, body=samples.text_form({}, []),
                             extra_headers={"Reply-To": "attacker@evil.test"})
    d = decide(raw, config)
    assert (d.outcome, d.reason, d.reply) == ("quarantined", "reply-to-mismatch", None)


def test_two_from_headers_are_quarantined(config) -> None:
    raw = text_submission().replace(b"From: ", b"From: other@evil.test\r\nFrom: ", 1)
    assert decide(raw, config).reason == "malformed"


def test_a_message_without_a_sender_is_quarantined(config) -> None:
    raw = b"To: x@y.test\r\nSubject: hi\r\n\r\nAlert type: Missing child\r\n"
    assert decide(raw, config).reason == "malformed"


def test_withdraw_from_the_social_worker_on_record_is_recorded(config) -> None:
    d = decide(samples.submission(SW, INBOX, subject=f"WITHDRAW {REF}", body="Reason: Found\n"), config)
    assert (d.outcome, d.kind, d.command) == ("recorded", "withdraw", Withdraw(REF, "Found"))


def test_withdraw_from_someone_else_is_quarantined(config) -> None:
    d = decide(samples.submission("other@coventry-council.test", INBOX, subject=f"WITHDRAW {REF}"), config)
    assert (d.outcome, d.reason) == ("quarantined", "not-on-record")


def test_withdraw_of_an_unknown_or_withdrawn_alert_gets_a_clear_answer(config) -> None:
    unknown = decide(samples.submission(SW, INBOX, subject="WITHDRAW HSA-2026-999999"), config)
    again = decide(samples.submission(SW, INBOX, subject=f"WITHDRAW {REF}"), config, status="WITHDRAWN")
    assert (unknown.outcome, unknown.reason, unknown.reply) == \
        ("invalid", "unknown-reference", "command_refused")
    assert (again.outcome, again.reason) == ("invalid", "already-withdrawn")


def test_extend_reads_the_new_date_or_explains_the_format(config) -> None:
    ok = decide(samples.submission(SW, INBOX, subject=f"EXTEND {REF} to 2027-01-15"), config)
    bad = decide(samples.submission(SW, INBOX, subject=f"EXTEND {REF} to next week"), config)
    assert ok.command == Extend(REF, date(2027, 1, 15))
    assert (bad.outcome, bad.reason) == ("invalid", "extend-date")


def test_a_provider_reply_quoting_the_reference_is_an_acknowledgement(config) -> None:
    d = decide(samples.submission("safeguarding@uhcw.test", INBOX, subject=f"RE: {REF} alert notice"), config)
    assert (d.kind, d.outcome, d.reply) == ("acknowledgement", "recorded", None)


def test_an_updated_form_from_the_social_worker_is_recorded_as_an_update(config) -> None:
    d = decide(xlsx_submission(**{"Alert reference": REF}), config)
    assert (d.kind, d.outcome, d.alert_ref) == ("update", "recorded", REF)


def test_an_out_of_office_reply_is_never_answered_and_filed_quietly(config) -> None:
    raw = samples.submission(SW, INBOX, subject="Out of office", body="I am away",
                             extra_headers={"Auto-Submitted": "auto-replied"})
    d = decide(raw, config)
    assert (d.outcome, d.reason, d.folder, d.reply, d.tell_admin) == ("recorded", "auto-reply", "Processed",
                                                                      None, False)


def test_an_email_with_no_form_is_quarantined_and_the_sender_told_what_to_do(config) -> None:
    d = decide(samples.submission(SW, INBOX, body="Please call me about the family."), config)
    assert (d.outcome, d.reason, d.reply) == ("quarantined", "not-a-submission", "no_form_found")


def test_the_header_block_ends_at_the_first_empty_line_in_either_line_ending() -> None:
    """A Maildir file keeps LF, IMAP and Exchange CRLF: either way only the headers are parsed, not a
    large attachment after them (the own-copy check reads From and Message-ID of every message)."""
    from safeguard.service_layer.intake import HEAD_BYTES, header_block

    body = b"A" * (2 * HEAD_BYTES)
    lf = b"From: a@nhs.net\nMessage-ID: <1@x>\n\n" + body
    crlf = lf.replace(b"\n", b"\r\n")
    assert header_block(lf) == b"From: a@nhs.net\nMessage-ID: <1@x>"
    assert header_block(crlf) == b"From: a@nhs.net\r\nMessage-ID: <1@x>"
    assert header_block(b"X: " + body) == (b"X: " + body)[:HEAD_BYTES]  # no end within the cap
