"""SEEN and CONFIRM: the strict subject grammar, and what triage makes of them (pure: plain values)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from safeguard.domain.commands import (
    ConfirmDigest,
    Seen,
    command_from_json,
    command_to_json,
    read_subject,
    seen_details,
)
from safeguard.domain.triage import AlertFacts, triage
from safeguard.service_layer.attachments import read_message
from testkit import samples
from tests.conftest import TODAY
from tests.factories import INBOX, SW, TM

REF = "HSA-2026-000042"
DIGEST = "HSA-DIGEST-2026W49-UHCW"
UHCW, GEH = "safeguarding@uhcw.test", "safeguarding@geh.test"


def decide(sender: str, subject: str, body: str = "", *, holding: frozenset[str] = frozenset({UHCW})):
    def find_alert(reference: str) -> AlertFacts | None:
        return AlertFacts(REF, "ACTIVE", frozenset({SW, TM}), frozenset({UHCW}), "Missing child",
                          date(2026, 11, 1), holding=holding) if reference == REF else None

    def find_digest(reference: str) -> str | None:
        return "UHCW" if reference == DIGEST else None

    return lambda config: triage(read_message(samples.submission(sender, INBOX, subject=subject,
                                                                 body=body or "-\n"), config),
                                 config, TODAY, find_alert, None, find_digest)


@pytest.mark.parametrize("subject", [f"SEEN {REF}", f"seen {REF}", f"[secure] SEEN {REF}"])
def test_seen_is_the_whole_subject_or_nothing(subject: str) -> None:
    assert read_subject(subject, "HSA").verb == "seen"


@pytest.mark.parametrize("subject", [f"RE: SEEN {REF}", f"Not SEEN {REF} yet", f"SEEN {REF} today",
                                     "CONFIRM HSA-2026-000042", f"RE: CONFIRM {DIGEST}"])
def test_anything_more_or_less_than_the_command_is_not_seen_or_confirm(subject: str) -> None:
    assert read_subject(subject, "HSA").verb not in ("seen", "confirm")


def test_confirm_carries_the_digest_reference_and_no_alert_reference() -> None:
    command = read_subject(f"confirm {DIGEST.lower()}", "HSA")
    assert (command.verb, command.digest, command.reference) == ("confirm", DIGEST, None)


def test_when_and_where_are_read_from_the_body_shortened_and_once() -> None:
    assert seen_details("Hello\nWhen:  today  14:20\nWhere: ED\nWhere: again\n") == ("today 14:20", "ED")
    assert seen_details("nothing useful") == (None, None)
    assert len(seen_details("Where: " + "x" * 5000)[1] or "") == 200


@pytest.mark.parametrize("command", [Seen(REF, UHCW, "today", "ED"), Seen(REF, UHCW),
                                     ConfirmDigest(DIGEST, UHCW)])
def test_seen_and_confirm_read_back_from_their_stored_json(command) -> None:
    assert command_from_json(json.loads(json.dumps(command_to_json(command)))) == command


def test_seen_from_the_provider_holding_the_alert_is_recorded(config) -> None:
    d = decide(UHCW, f"SEEN {REF}", "When: 10:00\nWhere: ED\n")(config)
    assert (d.kind, d.outcome, d.command) == ("seen", "recorded", Seen(REF, UHCW, "10:00", "ED"))


def test_seen_from_a_provider_not_holding_the_alert_is_quarantined(config) -> None:
    assert decide(GEH, f"SEEN {REF}")(config).reason == "seen-not-holding"
    assert decide(UHCW, f"SEEN {REF}", holding=frozenset())(config).reason == "seen-not-holding"
    assert decide(UHCW, "SEEN HSA-2026-999999")(config).reason == "seen-unknown"


def test_seen_or_confirm_from_someone_not_a_provider_changes_nothing(config) -> None:
    for subject in (f"SEEN {REF}", f"CONFIRM {DIGEST}"):
        d = decide(SW, subject)(config)
        assert (d.outcome, d.reason, d.command) == ("quarantined", "provider-command", None)


def test_confirm_is_recorded_only_for_the_providers_own_digest(config) -> None:
    ok = decide(UHCW, f"CONFIRM {DIGEST}")(config)
    assert (ok.kind, ok.command) == ("digest-confirm", ConfirmDigest(DIGEST, UHCW))
    assert decide(GEH, f"CONFIRM {DIGEST}")(config).reason == "digest-unknown"
    assert decide(UHCW, "CONFIRM HSA-DIGEST-2026W50-UHCW")(config).reason == "digest-unknown"
