"""Approvers are a named list; decisions by email follow a strict grammar; the one-time code is
never stored in the register's copy of the command."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from safeguard.domain.commands import EmailDecision, command_from_json, command_to_json, read_subject
from safeguard.domain.config.models import Service, Timescales
from safeguard.domain.triage import DECIDED_BY_EMAIL, triage
from safeguard.service_layer.attachments import read_message
from testkit import samples
from tests.conftest import TODAY
from tests.factories import INBOX, SW

REF = "HSA-2026-000042"
DANA = "designated.nurse@example-icb.test"  # a listed approver in config/settings.yaml


def decide(raw: bytes, config):
    return triage(read_message(raw, config), config, TODAY, lambda _ref: None)


@pytest.mark.parametrize(("subject", "verb", "code"), [
    (f"APPROVE {REF} K7QM2XPD", "approve", "K7QM2XPD"),
    (f"reject {REF.lower()} k7qm2xpd", "reject", "K7QM2XPD"),
    (f"[secure] APPROVE {REF} K7QM2XPD", "approve", "K7QM2XPD"),
    (f"RE: APPROVE {REF} K7QM2XPD", None, None),  # a reply is never a command
    (f"APPROVE {REF}", None, None),  # no code
    (f"Please APPROVE {REF} K7QM2XPD", None, None),
])
def test_a_decision_by_email_is_the_whole_subject_with_its_code(subject: str, verb, code) -> None:
    command = read_subject(subject, "HSA")
    assert (command.verb, command.code) == (verb, code)


def test_the_code_is_never_written_with_the_stored_command() -> None:
    stored = command_to_json(EmailDecision(REF, False, "K7QM2XPD", "Not proportionate."))
    assert stored is not None and "K7QM2XPD" not in json.dumps(stored)
    assert command_from_json(stored) == EmailDecision(REF, False, "", "Not proportionate.")


def test_an_approval_from_a_listed_approver_is_recorded_for_the_register_to_check(config) -> None:
    d = decide(samples.submission(DANA, INBOX, subject=f"APPROVE {REF} K7QM2XPD"), config)
    assert (d.outcome, d.reason, d.command) == ("recorded", DECIDED_BY_EMAIL,
                                                EmailDecision(REF, True, "K7QM2XPD", ""))


def test_an_approval_from_anyone_not_listed_is_quarantined_unanswered(config) -> None:
    d = decide(samples.submission(SW, INBOX, subject=f"APPROVE {REF} K7QM2XPD"), config)
    assert (d.outcome, d.reason, d.reply, d.tell_admin) == ("quarantined", "not-an-approver", None, True)
    assert "not a listed approver" in d.explanation


def test_an_approval_the_gateway_did_not_authenticate_is_quarantined_unanswered(config) -> None:
    d = decide(samples.submission(DANA, INBOX, subject=f"APPROVE {REF} K7QM2XPD", authenticated=False),
               config)
    assert (d.outcome, d.reason, d.reply) == ("quarantined", "auth-missing", None)


def test_a_rejection_without_a_reason_is_answered_with_how_to_write_it(config) -> None:
    d = decide(samples.submission(DANA, INBOX, subject=f"REJECT {REF} K7QM2XPD", body="No.\n"), config)
    assert (d.outcome, d.reason, d.reply) == ("invalid", "no-reason", "command_refused")
    assert "Reason:" in d.explanation and f"REJECT {REF} CODE" in d.explanation


def test_approvers_are_named_once_each(config) -> None:
    service = config.settings.service.model_dump()
    service["approvers"].append({"name": "dana  nightingale", "email": "other@example-icb.test"})
    with pytest.raises(ValidationError, match="approver name dana nightingale appears twice"):
        Service.model_validate(service)


def test_an_approver_is_found_by_name_or_address_however_it_is_spaced_or_cased(config) -> None:
    service = config.settings.service
    assert service.approver_named("  dana   NIGHTINGALE ") == service.approver_by_email(DANA.upper())
    assert service.approver_named("Anyone At All") is None


def test_urgent_alerts_have_their_own_shorter_wait_limit() -> None:
    limits = Timescales(approval_wait_limit_hours=4, urgent_approval_wait_limit_hours=0.5)
    assert limits.approval_wait_limit(False).seconds == 14400
    assert limits.approval_wait_limit(True).seconds == 1800


def test_a_stage_no_approver_can_give_is_warned_of(config) -> None:
    kinds = [k.model_copy(update={"approval_stages": ["checker", "caldicott_guardian"]})
             for k in config.alert_types]
    warnings = config.model_copy(update={"alert_types": kinds}).warnings()
    assert any("caldicott_guardian" in w and "cannot be approved" in w for w in warnings)
