"""A hostile sender's attempts on the trust edge (an independent review), each run through process_batch
against the trust corpus's register (one approved, dispatched alert HSA-2026-000001).

Each test states the safe behaviour against an attack that worked before it was closed; the last
group are attacks the defences held against from the start."""

from __future__ import annotations

import pytest

from safeguard.adapters.mail.maildir import deliver
from safeguard.domain.authentication import GatewayTrust, Verdict, authenticate
from safeguard.domain.commands import read_subject
from safeguard.domain.config import Config
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision
from safeguard.service_layer.intake import IntakeContext, IntakeResult, process_batch
from testkit import samples
from tests.conftest import with_settings
from tests.factories import INBOX, SW, TM, fields, people
from tests.integration.test_trust_corpus import REF, state

GW = samples.GATEWAY
DOMAIN = SW.rpartition("@")[2]
UHCW = "safeguarding@uhcw.test"
ADMIN = "safeguarding-admin@example-icb.test"
FORGED_PASS = (f"{GW}; spf=pass smtp.mailfrom={DOMAIN}; dkim=pass header.d={DOMAIN}; "
               f"dmarc=pass header.from={DOMAIN}")
TRUST = GatewayTrust(True, frozenset({GW}), False)
EXCHANGE = GatewayTrust(True, frozenset({GW}), True)


@pytest.fixture
def ctx(active_alert: IntakeContext) -> IntakeContext:
    return active_alert


def mail(sender: str, subject: str, body: str = "See subject.\n", headers: dict[str, str] | None = None,
         attachments: list[tuple[str, bytes]] | None = None) -> bytes:
    """The message exactly as the sender wrote it (no gateway stamp)."""
    return samples.submission(sender, INBOX, subject=subject, body=body, extra_headers=headers,
                              attachments=attachments, authenticated=False)


def stamped(raw: bytes, *values: str) -> bytes:
    """What a gateway that prepends does: its Authentication-Results header(s) above the message."""
    return b"".join(b"Authentication-Results: " + v.encode() + b"\r\n" for v in values) + raw


def run(context: IntakeContext, raw: bytes) -> tuple[IntakeResult, bool]:
    before = state(context)
    deliver(context.mailbox.root, raw)  # type: ignore[attr-defined]
    [result] = process_batch(context.mailbox.list_new(), context)
    return result, state(context) != before


def withdraw(sender: str = SW, headers: dict[str, str] | None = None) -> bytes:
    return mail(sender, f"WITHDRAW {REF}", "Reason: Found\n", headers)


# --- 1. the sender authentication verdict -----------------------------------------------------------

def truncated_gateway_fail() -> str:
    """A genuine gateway `dmarc=fail` header that lists one dkim result per DKIM-Signature the sender
    put on the message (24 of them, selector length chosen by the sender): longer than the 2,000
    characters inbound.py keeps, and cut inside a comment, so authres cannot read what is left."""
    dkim = "; ".join('dkim=fail (signature verification failed) header.d=evil.test header.s=sxxx '
                     'header.b="AbCdEfGh"' for _ in range(24))
    return (f"{GW}; spf=fail smtp.mailfrom=evil.test; {dkim}; "
            f"dmarc=fail (p=reject dis=none) header.from={DOMAIN}")


def test_a_gateway_fail_cut_unreadable_does_not_let_a_forged_pass_below_it_withdraw(
        ctx: IntakeContext) -> None:
    raw = stamped(withdraw(headers={"Authentication-Results": FORGED_PASS}), truncated_gateway_fail())
    result, changed = run(ctx, raw)
    assert (result.reason, changed) == ("auth-fail", False)  # today: withdraw-requested, alert withdrawn


def test_a_forged_pass_above_a_gateway_that_appends_its_fail_does_not_withdraw(ctx: IntakeContext) -> None:
    raw = stamped(withdraw(headers={"Authentication-Results": samples.gateway_stamp(SW, "fail")}),
                  FORGED_PASS)
    result, changed = run(ctx, raw)  # the forged header is the sender's, the gateway's fail is below it
    assert (result.reason, changed) == ("auth-fail", False)  # today: withdraw-requested, alert withdrawn


def test_a_gateway_header_saying_dmarc_fail_and_then_dmarc_pass_is_not_a_pass() -> None:
    header = f"{GW}; dmarc=fail header.from={DOMAIN}; dmarc=pass header.from={DOMAIN}"
    assert authenticate((header,), None, SW, TRUST).verdict is Verdict.FAIL  # today: PASS


def test_a_gateway_writing_dkim_and_dmarc_in_separate_headers_passes_genuine_mail() -> None:
    headers = (f"{GW}; dkim=pass header.d={DOMAIN}", f"{GW}; dmarc=pass header.from={DOMAIN}")
    assert authenticate(headers, None, SW, TRUST).passed  # today: FAIL "dkim=pass" (OpenDKIM + OpenDMARC)


def test_compauth_pass_does_not_vouch_for_a_from_domain_the_dmarc_result_contradicts() -> None:
    eop = ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=evil.test; dkim=pass (signature was verified) "
           "header.d=evil.test;dmarc=pass action=none header.from=evil.test;compauth=pass reason=100")
    assert authenticate((eop,), "Anonymous", SW, EXCHANGE).verdict is Verdict.FAIL  # today: PASS


def test_a_sender_written_authas_internal_does_not_withdraw_on_a_maildir_site(ctx: IntakeContext,
                                                                               config: Config) -> None:
    service = config.settings.service
    auth = service.sender_authentication.model_copy(update={"exchange_online": True})
    exchange = IntakeContext(with_settings(config, service=service.model_copy(
        update={"sender_authentication": auth})), ctx.mailbox, ctx.uow, ctx.clock)
    result, changed = run(exchange, withdraw(headers={"X-MS-Exchange-Organization-AuthAs": " internal "}))
    assert changed is False  # today: withdraw-requested with no Authentication-Results at all


# --- 2. command authority ---------------------------------------------------------------------------

def test_the_admin_team_address_cannot_withdraw_an_alert_it_submitted(ctx: IntakeContext) -> None:
    form = samples.xlsx_form(fields(), people())
    deliver(ctx.mailbox.root, samples.submission(ADMIN, INBOX, attachments=[("form.xlsx", form)]))  # type: ignore[attr-defined]
    [created] = process_batch(ctx.mailbox.list_new(), ctx)
    ref = created.reference or ""
    give_decision(ctx, ref, 1, ApprovalRequest(True, "Dana Nightingale"))
    deliver(ctx.mailbox.root,  # type: ignore[attr-defined]
            samples.submission(ADMIN, INBOX, subject=f"WITHDRAW {ref}", body="Reason: Found\n"))
    [result] = process_batch(ctx.mailbox.list_new(), ctx)
    assert result.reason == "not-on-record"  # today: withdraw-requested


# --- 3. automatic replies ---------------------------------------------------------------------------

def test_a_health_alert_form_about_out_of_office_hours_is_not_filed_silently(ctx: IntakeContext) -> None:
    form = samples.xlsx_form(fields(), people())
    raw = samples.submission(SW, INBOX, subject="Health alert form - seen by the out of office hours team",
                             attachments=[("form.xlsx", form)])
    result, changed = run(ctx, raw)
    assert result.reason != "auto-reply" and changed  # today: auto-reply, Processed, no alert, nobody told


def test_a_not_read_receipt_from_a_provider_does_not_acknowledge(ctx: IntakeContext) -> None:
    raw = (f"Authentication-Results: {samples.gateway_stamp(UHCW)}\r\nFrom: {UHCW}\r\nTo: {INBOX}\r\n"
           f"Subject: Not read: {REF}: HEALTH ALERT for UHCW\r\nMessage-ID: <mdn1@uhcw.test>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; "
           'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
           "Your message was deleted without being "
           "read.\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;"
           f"{UHCW}\r\nDisposition: manual-action/MDN-sent-manually; deleted\r\n--b--\r\n").encode()
    result, changed = run(ctx, raw)
    assert (result.reason, changed) != ("acknowledged", True)  # today: acknowledged


# --- 4. messages that crash the reader --------------------------------------------------------------

POISON = {
    "8-bit-content-disposition": b'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: '
                                 b'text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\n'
                                 b'Content-Disposition: attachment; filename="\xc3\xa9.xlsx"\r\n\r\n'
                                 b"abc\r\n--b--\r\n",
    "idna-charset": b"Content-Type: text/plain; charset=idna\r\n\r\n\xff\xfe\r\n",
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_an_unauthenticated_message_that_breaks_the_reader_leaves_the_inbox(name: str,
                                                                            ctx: IntakeContext) -> None:
    raw = (b"From: x@evil.test\r\nTo: " + INBOX.encode() + b"\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
           + POISON[name])
    results = []
    for _ in range(3):
        if ctx.mailbox.folder_counts()["INBOX"] == 0 and not results:
            deliver(ctx.mailbox.root, raw)  # type: ignore[attr-defined]
        results += process_batch(ctx.mailbox.list_new(), ctx)
    assert ctx.mailbox.folder_counts()["INBOX"] == 0, [r.reason for r in results]  # today: deferred x3


# --- 5. the subject grammar -------------------------------------------------------------------------

@pytest.mark.parametrize("subject", ["W\u0131THDRAW HSA-2026-000001", "W\u0130THDRAW HSA-2026-000001",
                                     "WITHDRAW HSA-\uff12\uff10\uff12\uff16-000001"])
def test_a_subject_with_look_alike_letters_or_digits_is_not_a_command(subject: str) -> None:
    assert read_subject(subject, "HSA").verb is None


def test_an_extension_date_in_look_alike_digits_is_not_read() -> None:
    from safeguard.domain.forms.values import BadValue, parse_date
    command = read_subject("EXTEND HSA-2026-000001 to \uff12\uff10\uff12\uff17-01-15", "HSA")
    with pytest.raises(BadValue):
        parse_date(command.extend_to or "")


# --- 6. what held -----------------------------------------------------------------------------------

def _forged_below_fail(extra: str) -> bytes:
    return stamped(withdraw(headers={"Authentication-Results": extra}), samples.gateway_stamp(SW, "fail"))


HELD: dict[str, tuple[bytes, str]] = {
    "pass-in-a-comment": (stamped(withdraw(), f"{GW}; dmarc=fail (dmarc=pass) header.from={DOMAIN}"),
                          "auth-fail"),
    "pass-as-a-ptype-value": (stamped(withdraw(), f'{GW}; dmarc=fail header.from="dmarc=pass"'), "auth-fail"),
    "pass-for-a-parent-domain": (stamped(mail(f"sw@x.{DOMAIN}", f"WITHDRAW {REF}", "Reason: Found\n"),
                                         f"{GW}; dmarc=pass header.from={DOMAIN}"), "auth-fail"),
    "encoded-word-authserv-id": (stamped(withdraw(), f"=?utf-8?q?{GW}?=; dmarc=pass"), "auth-untrusted"),
    # read as the gateway's (the id is compared without quotes or a trailing dot), so judged: no header.from
    "authserv-id-with-trailing-dot": (withdraw(headers={"Authentication-Results": f"{GW}.; dmarc=pass"}),
                                      "auth-fail"),
    "quoted-authserv-id": (withdraw(headers={"Authentication-Results": f'"{GW}"; dmarc=pass'}), "auth-fail"),
    "forged-pass-with-version-below-the-gateway": (
        _forged_below_fail(f"{GW} 1; dmarc=pass header.from={DOMAIN}"), "auth-fail"),
    "display-name-is-the-social-worker": (stamped(mail(f'"{SW}" <evil@evil.test>', f"WITHDRAW {REF}",
                                                       "Reason: Found\n"),
                                                  samples.gateway_stamp("evil@evil.test")),
                                          "unauthorised-sender"),
    "two-from-addresses": (stamped(mail(f"evil@evil.test, {SW}", f"WITHDRAW {REF}", "Reason: Found\n"),
                                   samples.gateway_stamp("evil@evil.test")), "malformed"),
    "authas-internal-at-a-non-exchange-site": (
        withdraw(headers={"X-MS-Exchange-Organization-AuthAs": "Internal"}), "auth-missing"),
    "lowercase-re": (stamped(mail(SW, f"re: WITHDRAW {REF}", "Reason: Found\n"), samples.gateway_stamp(SW)),
                     "ambiguous-command"),
    "tab-re-after-the-reference": (stamped(mail(SW, f"WITHDRAW {REF}\tRE", "Reason: Found\n"),
                                           samples.gateway_stamp(SW)), "ambiguous-command"),
    "zero-width-space": (stamped(mail(SW, f"WITHDRAW\u200b {REF}", "Reason: Found\n"),
                                 samples.gateway_stamp(SW)),
                         "ambiguous-command"),
    "rtl-override": (stamped(mail(SW, f"\u202eWITHDRAW {REF}", "Reason: Found\n"), samples.gateway_stamp(SW)),
                     "ambiguous-command"),
    "marker-twice": (stamped(mail(SW, f"[secure] [secure] WITHDRAW {REF}", "Reason: Found\n"),
                             samples.gateway_stamp(SW)), "ambiguous-command"),
    "encoded-re-before-the-command": (stamped(mail(TM, "x", headers=None), samples.gateway_stamp(TM)).replace(
        b"Subject: x", f"Subject: =?utf-8?q?RE=3A?= EXTEND {REF} to 2027-01-15".encode()),
        "ambiguous-command"),
    "reason-in-a-quoted-line": (stamped(mail(SW, f"WITHDRAW {REF}", "> Reason: Found\n"),
                                        samples.gateway_stamp(SW)),
                                "withdraw-reason"),
    "reason-with-words-after": (stamped(mail(SW, f"WITHDRAW {REF}", "Reason: Found - NOT, still missing\n"),
                                        samples.gateway_stamp(SW)), "withdraw-reason"),
}


@pytest.mark.parametrize("name", sorted(HELD))
def test_hostile_variants_the_defences_hold_against_change_nothing(name: str, ctx: IntakeContext) -> None:
    raw, reason = HELD[name]
    result, changed = run(ctx, raw)
    assert (result.reason, changed) == (reason, False)
