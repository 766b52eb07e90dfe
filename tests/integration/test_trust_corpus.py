"""The trust corpus: forged, unauthenticated, ambiguous and automatic messages against a register that
holds one active alert. Each gets its expected outcome and changes nothing: the alert's status, review
date and versions, the providers' deliveries and acknowledgements, the FGM records and the notices are
as they were. The controls (genuine, authenticated, exactly phrased) do change it, which shows the
check can see a change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from safeguard.adapters.mail.maildir import deliver
from safeguard.adapters.register.orm import (
    Alert,
    AlertVersion,
    Delivery,
    FgmRecord,
    InboundMessage,
    OutboxEntry,
)
from safeguard.service_layer.intake import IntakeContext, process_batch

TRUST = Path(__file__).resolve().parents[1] / "corpus" / "trust"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((TRUST / "expected.yaml").read_text())
REF = "HSA-2026-000001"


@pytest.fixture
def ctx(active_alert: IntakeContext) -> IntakeContext:
    return active_alert


def state(ctx: IntakeContext) -> dict[str, object]:
    """Everything a message could change about the alert and what providers hold."""
    with ctx.uow() as u:
        alert = u.session.scalars(select(Alert).where(Alert.reference == REF)).one()
        return {
            "alert": (alert.status, alert.review_date, alert.current_version, alert.withdrawn_at),
            "versions": [(v.version, v.status) for v in u.session.scalars(select(AlertVersion))],
            "alerts": u.session.scalar(select(func.count()).select_from(Alert)),
            "deliveries": sorted((d.provider_code, d.status, d.version, d.acknowledged_at, d.withdrawn_at)
                                 for d in u.session.scalars(select(Delivery))),
            "fgm": u.session.scalar(select(func.count()).select_from(FgmRecord)),
            "notices": sorted(e.key for e in u.session.scalars(select(OutboxEntry))
                              if e.kind.startswith("notice:")),
        }


def test_the_trust_corpus_is_complete() -> None:
    files = sorted(p.name for p in TRUST.glob("*.eml"))
    assert len(files) >= 40 and files == sorted(EXPECTED)
    assert sum(1 for e in EXPECTED.values() if not e.get("effect")) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_message_gets_its_outcome_and_only_the_controls_change_anything(name: str,
                                                                              ctx: IntakeContext) -> None:
    before = state(ctx)
    deliver(ctx.mailbox.root, (TRUST / name).read_bytes())  # type: ignore[attr-defined]
    [result] = process_batch(ctx.mailbox.list_new(), ctx)
    expected = EXPECTED[name]
    assert (result.outcome, result.reason) == (expected["outcome"], expected["reason"])
    assert ctx.mailbox.folder_counts()["INBOX"] == 0
    after = state(ctx)
    if expected.get("effect"):
        assert after != before
    else:
        assert after == before
    with ctx.uow() as u:
        row = u.session.get(InboundMessage, result.inbound_id)
        assert row is not None
        replies = [e for e in u.session.scalars(select(OutboxEntry).where(OutboxEntry.inbound_id == row.id))
                   if e.kind.startswith("reply:")]
        admin = [e for e in u.session.scalars(select(OutboxEntry).where(OutboxEntry.inbound_id == row.id))
                 if e.kind.startswith("admin:")]
        folder = row.folder
    if result.reason.startswith("auth-"):  # the claimed sender may not have written it: never answered
        assert replies == [] and len(admin) == 1
    if result.reason == "auto-reply":  # filed quietly: nobody answered, nobody bothered
        assert replies == [] and admin == [] and folder == "Processed"
    if result.reason == "ambiguous-command":  # a person reads it; the sender is told how to phrase it
        assert len(replies) == 1 and len(admin) == 1
