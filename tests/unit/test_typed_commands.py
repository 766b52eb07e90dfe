"""Commands travel as frozen dataclasses and are stored as JSON in one place; statuses are StrEnums
that store and compare as the very strings written before they existed."""

from __future__ import annotations

import json
from datetime import date

import pytest

from safeguard.adapters.notify.outbox import SendResult
from safeguard.domain.commands import (
    Acknowledge,
    BounceReport,
    Extend,
    FgmFile,
    Update,
    Withdraw,
    command_from_json,
    command_to_json,
)
from safeguard.domain.status import AlertStatus, OutboxStatus, Outcome

REF = "HSA-2026-000123"


@pytest.mark.parametrize("command", [
    Withdraw(REF, "Found"), Extend(REF, date(2027, 1, 31)), Acknowledge(REF, "safeguarding@uhcw.test"),
    Update(REF), BounceReport(7, "5.1.1", "5.1.1 user unknown", "nobody@uhcw.test"),
    FgmFile("UHCW", "2026-05", "may.xlsx"),
])
def test_every_command_reads_back_from_its_stored_json_as_the_same_command(command) -> None:
    stored = json.loads(json.dumps(command_to_json(command)))
    assert command_from_json(stored) == command


def test_rows_stored_as_plain_dicts_before_commands_were_typed_still_read_back() -> None:
    assert command_from_json({"verb": "extend", "reference": REF, "review_date": "2027-01-15"}) == \
        Extend(REF, date(2027, 1, 15))
    assert command_from_json({"verb": "withdraw", "reference": REF, "reason": "Other: moved away"}) == \
        Withdraw(REF, "Other: moved away")
    assert command_from_json({"provider": "UHCW", "month": "2026-05", "file": "may.csv"}) == \
        FgmFile("UHCW", "2026-05", "may.csv")


def test_the_extend_date_is_stored_as_an_iso_date_and_the_verb_is_kept() -> None:
    assert command_to_json(Extend(REF, date(2027, 1, 15))) == {"verb": "extend", "reference": REF,
                                                                "review_date": "2027-01-15"}


def test_stored_json_that_no_longer_reads_as_a_command_is_none_not_an_error() -> None:
    assert command_from_json({"verb": "extend", "reference": REF, "review_date": "soon"}) is None
    assert command_from_json({"verb": "unheard-of"}) is None
    assert command_from_json(None) is None


def test_statuses_are_the_strings_the_register_always_stored() -> None:
    assert AlertStatus.WITHDRAWN == "WITHDRAWN" and f"{AlertStatus.ACTIVE}" == "ACTIVE"
    assert OutboxStatus("sending") is OutboxStatus.SENDING and Outcome.DEFERRED == "deferred"
    assert json.dumps({"s": Outcome.ACCEPTED}) == '{"s": "accepted"}'


def test_a_send_result_is_not_a_stored_outbox_state() -> None:
    assert {r.value for r in SendResult} - {s.value for s in OutboxStatus} == \
        {"deferred", "in-progress", "missing", "claimed"}
