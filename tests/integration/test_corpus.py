"""The hostile-input corpus: every file gets its expected outcome, nothing escapes as an exception,
the inbox ends empty, and nothing from the input can reach an outgoing header or be evaluated."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguard.adapters.mail.inbound import parse_inbound
from safeguard.adapters.mail.maildir import deliver
from safeguard.adapters.mail.port import Folder
from safeguard.adapters.register.orm import InboundMessage
from safeguard.domain.forms.checks import check_form
from safeguard.domain.forms.lines import from_lines
from safeguard.domain.forms.problems import CheckContext
from safeguard.service_layer.intake import IntakeContext, process_batch
from tests.conftest import TODAY

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def test_the_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert len(files) >= 60 and files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_gets_its_expected_outcome(name: str, intake_ctx: IntakeContext) -> None:
    deliver(intake_ctx.mailbox.root, (CORPUS / name).read_bytes())  # type: ignore[attr-defined]
    [result] = process_batch(intake_ctx.mailbox.list_new(), intake_ctx)
    assert (result.outcome, result.reason) == (EXPECTED[name]["outcome"], EXPECTED[name]["reason"])
    if "problems" in EXPECTED[name]:
        with intake_ctx.uow() as u:
            row = u.session.get(InboundMessage, result.inbound_id)
            assert row is not None and [p["label"] for p in row.problems] == EXPECTED[name]["problems"]
    assert intake_ctx.mailbox.folder_counts()["INBOX"] == 0
    for path in intake_ctx.mailbox.list_folder(Folder.SENT):  # type: ignore[attr-defined]
        sent = message_from_bytes(path.read_bytes())
        assert sent.get_all("Bcc") is None and len(sent.get_all("To") or []) == 1
        assert "\n" not in str(sent["Subject"]).replace("\n ", "") and "evil@" not in str(sent["To"])

    # fields reach hospitals' notices: literal, never evaluated
    if result.outcome == "accepted" and ("jinja" in name or "injection" in name):
        from safeguard.service_layer.approval import ApprovalRequest
        from safeguard.service_layer.dispatch import give_decision, send_alert_email
        give_decision(intake_ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))  # type: ignore[arg-type]
        send_alert_email(intake_ctx, result.reference)  # type: ignore[arg-type]
        notice = next((intake_ctx.mailbox.deliver_to / "safeguarding@uhcw.test" / "new").iterdir())  # type: ignore[operator]
        text = message_from_bytes(notice.read_bytes()).get_payload()[0].get_payload(decode=True).decode()
        assert "xxxxxxxxx" not in text and "Coventry 49" not in text
        if "jinja" in name:
            assert "{{ 7*7 }}" in text


settings_ = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(st.binary(max_size=4000))
def test_fuzz_any_bytes_parse_as_a_message_without_an_exception(data: bytes) -> None:
    inbound = parse_inbound(data)
    assert inbound.dedup_key


labels = st.sampled_from(["Alert type", "Urgency", "Review date", "Providers to alert",
                          "Subject 1 NHS number", "Subject 1 Date of birth", "Subject 1 Postcode",
                          "Social worker phone", "Legal status", "Case discussion date", "Subject 7 Role",
                          "Nonsense"])


@settings_
@given(st.lists(st.tuples(labels, st.text(max_size=40)), max_size=40))
def test_fuzz_the_form_parser_and_checks_never_raise(config, pairs: list[tuple[str, str]]) -> None:
    raw = from_lines([f"{label}: {value}" for label, value in pairs], "email text", 2000)
    form, problems = check_form(raw, CheckContext(TODAY, config))
    assert (form is None) == bool(problems)
    assert all(p.label and p.message for p in problems)
