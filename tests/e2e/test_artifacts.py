"""What intake and reminders publish in the Prefect UI: words and tables for the admin team (no
Python reprs), the alerts-overview dashboard refreshed by both, and no personal data in Prefect."""

from __future__ import annotations

import json

import pytest

from safeguard.service_layer.intake import IntakeContext
from tests.conftest import ROOT, put
from tests.e2e.prefect_db import leaked
from tests.factories import text_submission, xlsx_submission

pytestmark = pytest.mark.prefect
REPR_MARKS = set("{}[]")  # dicts and lists printed as Python writes them


def latest(key: str):  # a prefect Artifact
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                     sort=ArtifactSort.CREATED_DESC, limit=1)[0]


def shown_text(key: str) -> str:
    """Everything a person reads in the artifact: its description and each cell, or its markdown."""
    artifact = latest(key)
    data = artifact.data
    cells = ([str(v) for row in json.loads(data) for v in row.values()] if artifact.type == "table"
             else [str(data)])
    return " ".join([artifact.description or "", *cells])


def test_intake_and_reminders_publish_words_tables_and_the_overview_without_personal_data(
        prefect_server: str, site: IntakeContext) -> None:
    from flows.intake import intake
    from flows.reminders import reminders
    put(site.mailbox, xlsx_submission())
    put(site.mailbox, text_submission(Urgency="Never"))
    intake(config_dir=str(ROOT / "config"))
    intake_text = shown_text("intake-last-run")
    assert "This intake run handled 2 messages: 1 accepted, 1 invalid." in intake_text
    assert "invalid: the sender was told every problem" in intake_text and "form problems" in intake_text
    overview = shown_text("alerts-overview")
    assert "**Waiting for approval:** 1, the oldest for 0 minutes. HSA-2026-000001" in overview
    reminders(config_dir=str(ROOT / "config"), now="2026-11-23T08:00")
    assert "Reminders for Monday 23 November 2026. Due but already sent by an earlier run: 0." in \
        shown_text("reminders-last-run")
    assert latest("alerts-overview").created > latest("intake-last-run").created  # reminders refreshed it
    for key in ("intake-last-run", "reminders-last-run", "alerts-overview"):
        assert not REPR_MARKS & set(shown_text(key)) and "': " not in shown_text(key), (key, shown_text(key))
    assert leaked(prefect_server) == []
