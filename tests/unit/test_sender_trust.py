"""Who is believed: the gateway's Authentication-Results verdict, the command grammar, automatic
replies, and what a site at Exchange Online trusts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguard.adapters.mail.inbound import parse_inbound
from safeguard.domain.authentication import GatewayTrust, Verdict, authenticate
from safeguard.domain.commands import read_subject, withdrawal_reason
from safeguard.domain.config import Config
from testkit import samples
from tests.conftest import with_settings

SW = "tamsin.holloway@coventry-council.test"
SITE = GatewayTrust(required=True, authserv_ids=frozenset({"mx.example-icb.test"}))
EXCHANGE = GatewayTrust(required=True, authserv_ids=frozenset(), exchange_online=True)
# Exchange Online's own stamp: no authserv-id, comments, no space after some semicolons.
EXO = ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=coventry-council.test; dkim=pass (signature was "
       "verified) header.d=coventry-council.test;dmarc=pass action=none header.from=coventry-council.test;"
       "compauth=pass reason=100")
EXO_FAIL = ("spf=fail (sender IP is 192.0.2.9) smtp.mailfrom=coventry-council.test; dkim=none (message not "
            "signed) header.d=none;dmarc=fail action=none header.from=coventry-council.test;compauth=fail "
            "reason=000")


def verdict(headers: tuple[str, ...], trust: GatewayTrust = SITE, auth_as: str | None = None,
            sender: str = SW) -> Verdict:
    return authenticate(headers, auth_as, sender, trust).verdict


def test_a_pass_from_the_sites_own_gateway_is_believed() -> None:
    assert verdict((samples.gateway_stamp(SW),)) == Verdict.PASS


def test_a_fail_from_the_sites_own_gateway_is_not() -> None:
    auth = authenticate((samples.gateway_stamp(SW, "fail"),), None, SW, SITE)
    assert auth.verdict == Verdict.FAIL and auth.detail == "spf=fail dkim=fail dmarc=fail"


def test_a_pass_written_by_anyone_else_is_ignored() -> None:
    assert verdict((samples.gateway_stamp(SW, authserv_id="mx.attacker.test"),)) == Verdict.UNTRUSTED


def test_no_header_at_all_is_missing() -> None:
    assert verdict(()) == Verdict.MISSING


def test_the_gateways_topmost_header_counts_not_a_senders_copy_below_it() -> None:
    headers = (samples.gateway_stamp(SW, "fail"), samples.gateway_stamp(SW))
    assert verdict(headers) == Verdict.FAIL


def test_a_dmarc_pass_for_another_domain_does_not_vouch_for_the_from_address() -> None:
    assert verdict((samples.gateway_stamp("someone@evil.test"),)) == Verdict.FAIL


def test_a_compauth_pass_vouches_for_the_sender() -> None:
    header = "mx.example-icb.test; spf=fail smtp.mailfrom=x.test; " \
             "dmarc=fail header.from=coventry-council.test; " \
             "compauth=pass reason=109"
    assert verdict((header,)) == Verdict.PASS


def test_exchange_onlines_stamp_counts_only_at_an_exchange_site_and_with_its_organisation_header() -> None:
    assert verdict((EXO,), SITE, auth_as="Anonymous") == Verdict.UNTRUSTED  # not an Exchange site
    assert verdict((EXO,), EXCHANGE, auth_as=None) == Verdict.UNTRUSTED  # did not come through Exchange
    assert verdict((EXO,), EXCHANGE, auth_as="Anonymous") == Verdict.PASS
    assert verdict((EXO_FAIL,), EXCHANGE, auth_as="Anonymous") == Verdict.FAIL
    assert verdict((EXO_FAIL, EXO), EXCHANGE, auth_as="Anonymous") == Verdict.FAIL  # a sender's copy below
    # a signed-in mailbox of the organisation
    assert verdict((), EXCHANGE, auth_as="Internal") == Verdict.PASS


def test_an_exchange_site_still_trusts_a_listed_gateway_id() -> None:
    both = GatewayTrust(True, frozenset({"mx.example-icb.test"}), exchange_online=True)
    assert verdict((samples.gateway_stamp(SW),), both) == Verdict.PASS


def test_a_lab_without_authentication_believes_everyone_but_says_so(config: Config) -> None:
    lab = GatewayTrust(required=False, authserv_ids=frozenset())
    auth = authenticate((), None, SW, lab)
    assert auth.passed and auth.verdict == Verdict.NOT_REQUIRED
    relaxed = config.settings.service.sender_authentication.model_copy(update={"required": False})
    service = config.settings.service.model_copy(update={"sender_authentication": relaxed})
    assert any("required is false" in w for w in with_settings(config, service=service).warnings())
    assert config.warnings() == []


def test_a_site_that_requires_authentication_must_name_a_gateway(config: Config) -> None:
    from pydantic import ValidationError

    from safeguard.domain.config.models import SenderAuthentication
    with pytest.raises(ValidationError, match="no gateway is trusted"):
        SenderAuthentication(required=True, trusted_authserv_ids=[])


@given(st.lists(st.text(max_size=200), max_size=4), st.one_of(st.none(), st.text(max_size=20)))
def test_any_header_text_gives_a_verdict_and_never_raises(headers: list[str], auth_as: str | None) -> None:
    for trust in (SITE, EXCHANGE):
        authenticate(tuple(headers), auth_as, SW, trust)


@pytest.mark.parametrize("subject", [
    "Please do NOT withdraw HSA-2026-000001 - child still missing",
    "RE: Should we withdraw HSA-2026-000001?",
    "RE: WITHDRAW HSA-2026-000001",
    "FW: WITHDRAW HSA-2026-000001",
    "Fwd: EXTEND HSA-2026-000001 to 2027-01-15",
    "WITHDRAW HSA-2026-000001 please",
    "Withdrawal of HSA-2026-000001",
    "EXTEND HSA-2026-000001",
    "Can we extend HSA-2026-000001?",
    "Do not withdraw",
])
def test_a_subject_that_is_not_exactly_a_command_changes_nothing_and_goes_to_a_person(subject: str) -> None:
    command = read_subject(subject, "HSA")
    assert command.verb is None and command.ambiguous


@pytest.mark.parametrize(("subject", "verb", "date"), [
    ("WITHDRAW HSA-2026-000001", "withdraw", None),
    ("withdraw  hsa-2026-000001 ", "withdraw", None),
    ("[secure] WITHDRAW HSA-2026-000001", "withdraw", None),
    ("EXTEND HSA-2026-000001 to 2027-01-15", "extend", "2027-01-15"),
    ("EXTEND HSA-2026-000001 to 15/01/2027 [secure]", "extend", "15/01/2027"),
])
def test_the_exact_commands_are_read(subject: str, verb: str, date: str | None) -> None:
    command = read_subject(subject, "HSA")
    assert (command.verb, command.reference, command.extend_to, command.ambiguous) == (
        verb, "HSA-2026-000001", date, False)


def test_a_reply_quoting_a_reference_is_not_a_command() -> None:
    command = read_subject("RE: HSA-2026-000001: HEALTH ALERT for UHCW", "HSA")
    assert (command.verb, command.reference, command.ambiguous) == (None, "HSA-2026-000001", False)


@pytest.mark.parametrize(("body", "reason"), [
    ("Reason: Found\n", "Found"), ("reason: resolved.\n", "Resolved"), ("Reason: Baby born\n", "Baby born"),
    ("Reason: Other: moved to Scotland\n", "Other: moved to Scotland"), ("Reason: he came home\n", None),
    ("Thanks\n", None), ("Reason:\n", None), ("Reason: Other:\n", None),
])
def test_a_withdrawal_reason_comes_from_the_fixed_list(body: str, reason: str | None) -> None:
    assert withdrawal_reason(body) == reason


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"}, {"Auto-Submitted": "auto-generated; owner-email=x@y.test"},
    {"X-Autoreply": "yes"}, {"X-Autorespond": "Out of office"}, {"Precedence": "auto_reply"},
    {"Precedence": "bulk"}, {"Precedence": "junk"}, {"X-MS-Exchange-Inbox-Rules-Loop": "x@uhcw.test"},
])
def test_automatic_replies_are_recognised_by_their_headers(headers: dict[str, str]) -> None:
    assert parse_inbound(samples.submission(SW, "x@y.test", subject="RE: HSA-2026-000001",
                                            extra_headers=headers)).automatic


@pytest.mark.parametrize(("subject", "automatic"), [
    ("Automatic reply: HSA-2026-000001", True), ("Out of Office: RE: HSA-2026-000001", True),
    ("Autoreply: away", True), ("Not read: HSA-2026-000001", True), ("Undeliverable: HSA-2026-000001", True),
    ("RE: HSA-2026-000001 - out of the office until Monday", False),  # a person may write that
    ("Health alert form - seen by the out of office hours team", False),
    ("RE: HSA-2026-000001", False), ("Auto-Submitted: no", False),
])
def test_automatic_replies_are_recognised_by_their_subjects(subject: str, automatic: bool) -> None:
    assert parse_inbound(samples.submission(SW, "x@y.test", subject=subject)).automatic is automatic


def test_auto_submitted_no_is_a_person_writing() -> None:
    raw = samples.submission(SW, "x@y.test", subject="RE: HSA-2026-000001",
                             extra_headers={"Auto-Submitted": "no"})
    assert not parse_inbound(raw).automatic
