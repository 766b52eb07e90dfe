"""The alerts overview (the `alerts-overview` dashboard) and the `safeguard alerts` listing, over a
register holding alerts in every state, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from cli.main import main
from safeguard.adapters.register.orm import (
    Alert,
    AlertVersion,
    AuditEntry,
    Delivery,
    InboundMessage,
    OutboxEntry,
)
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.domain.status import AlertStatus, DeliveryStatus, OutboxStatus, Outcome, VersionStatus
from safeguard.service_layer.alert_list import UnknownState, list_alerts, parse_state
from safeguard.service_layer.overview import alerts_overview, overview_markdown

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # a Monday
TODAY = date(2026, 11, 23)
SURNAME = "Quillhaven"


def _alert(u: UnitOfWork, n: int, status: AlertStatus, alert_type: str, *, review: date,
           created: datetime, version_status: VersionStatus = VersionStatus.APPROVED,
           providers: tuple[str, ...] = ("UHCW", "SWFT")) -> Alert:
    alert = Alert(reference=f"HSA-2026-{n:06d}", status=status, alert_type=alert_type, urgency="Routine",
                  created_at=created, updated_at=created, submitted_by="sw@coventry-council.test",
                  social_worker_email="sw@coventry-council.test",
                  team_manager_email="tm@coventry-council.test", review_date=review)
    u.session.add(alert)
    u.session.flush()
    u.session.add(AlertVersion(alert_id=alert.id, version=1, status=version_status, created_at=created,
                               form={"providers": list(providers),
                                     "subjects": [{"role": "Child", "forenames": "Ada",
                                                   "surname": SURNAME}]}))
    return alert


def _delivery(u: UnitOfWork, alert: Alert, code: str, *, acknowledged: bool = False, chased: bool = False,
              failed: bool = False, notified: datetime = NOW - timedelta(days=2)) -> None:
    u.session.add(Delivery(alert_id=alert.id, provider_code=code, mailbox=f"{code.lower()}@nhs.test",
                           status=DeliveryStatus.FAILED if failed else DeliveryStatus.NOTIFIED, version=1,
                           notice_key=f"notice:{alert.reference}:{code}", notified_at=notified,
                           acknowledged_at=NOW if acknowledged else None, chased_at=NOW if chased else None,
                           failed_at=NOW if failed else None))


@pytest.fixture
def register(uow: Callable[[], UnitOfWork]) -> Callable[[], UnitOfWork]:
    """Two waiting (the oldest 5 hours), three active (one review overdue, one due on Friday, one
    later), one rejected, one withdrawn; deliveries acknowledged, not, chased and failed; two
    messages quarantined today and one yesterday; one email the outbox gave up on."""
    with uow() as u:
        _alert(u, 1, AlertStatus.AWAITING_APPROVAL, "Missing child", review=TODAY + timedelta(days=30),
               created=NOW - timedelta(hours=5), version_status=VersionStatus.PROPOSED)
        _alert(u, 2, AlertStatus.AWAITING_APPROVAL, "Unborn baby", review=TODAY + timedelta(days=30),
               created=NOW - timedelta(minutes=20), version_status=VersionStatus.PROPOSED)
        overdue = _alert(u, 3, AlertStatus.ACTIVE, "Missing child", review=TODAY - timedelta(days=1),
                         created=NOW - timedelta(days=40))
        friday = _alert(u, 4, AlertStatus.ACTIVE, "Missing child", review=TODAY + timedelta(days=4),
                        created=NOW - timedelta(days=10))
        later = _alert(u, 5, AlertStatus.ACTIVE, "Unborn baby", review=TODAY + timedelta(days=60),
                       created=NOW - timedelta(days=3), providers=("WMAS",))
        _alert(u, 6, AlertStatus.REJECTED, "Missing child", review=TODAY, created=NOW - timedelta(days=5),
               version_status=VersionStatus.REJECTED)
        _alert(u, 7, AlertStatus.WITHDRAWN, "Unborn baby", review=TODAY, created=NOW - timedelta(days=50))
        _delivery(u, overdue, "UHCW", acknowledged=True)
        _delivery(u, overdue, "SWFT", chased=True, notified=NOW - timedelta(days=3))
        _delivery(u, friday, "UHCW")
        _delivery(u, friday, "SWFT", failed=True)
        _delivery(u, later, "WMAS", acknowledged=True)
        for n, at in enumerate((NOW - timedelta(hours=1), NOW - timedelta(hours=2), NOW - timedelta(days=1))):
            u.session.add(InboundMessage(dedup_key=f"k{n}", content_sha256="0" * 64, mailbox_id=str(n),
                                         received_at=at, kind="unknown", outcome=Outcome.QUARANTINED,
                                         folder="Quarantine", reason="unauthorised-sender"))
        u.session.add(OutboxEntry(key="gave-up", kind="reply", recipients=["x@nhs.test"], message_id="<m@x>",
                                  raw=b"x", status=OutboxStatus.FAILED, created_at=NOW))
        u.commit()
    return uow


def test_the_overview_counts_alerts_by_state_and_type(register, config: Config) -> None:
    o = alerts_overview(register, config, NOW)
    assert o.by_state_and_type == {("Missing child", "AWAITING_APPROVAL"): 1,
                                   ("Unborn baby", "AWAITING_APPROVAL"): 1, ("Missing child", "ACTIVE"): 2,
                                   ("Unborn baby", "ACTIVE"): 1,
                                   ("Missing child", "REJECTED"): 1, ("Unborn baby", "WITHDRAWN"): 1}
    assert o.active == 3


def test_the_overview_shows_what_waits_for_approval_and_how_long_the_oldest_has_waited(
        register, config) -> None:
    o = alerts_overview(register, config, NOW)
    assert o.waiting == ["HSA-2026-000001", "HSA-2026-000002"]
    assert o.oldest_waiting == timedelta(hours=5)


def test_the_overview_lists_reviews_due_this_week_and_overdue(register, config: Config) -> None:
    o = alerts_overview(register, config, NOW)
    assert (o.reviews_this_week, o.reviews_overdue) == (["HSA-2026-000004"], ["HSA-2026-000003"])


def test_the_overview_counts_unacknowledged_and_failed_deliveries_and_todays_quarantine(
        register, config) -> None:
    o = alerts_overview(register, config, NOW)
    assert [(u.provider, u.count, u.oldest, u.chased) for u in o.unacknowledged] == [
        ("SWFT", 1, timedelta(days=3), 1), ("UHCW", 1, timedelta(days=2), 0)]
    assert o.failed_deliveries == ["HSA-2026-000004 (SWFT)"]
    assert (o.failed_email, o.quarantined_today) == (1, 2)


def test_the_overview_reads_as_plain_english_and_tables_with_references_and_counts_only(
        register, config) -> None:
    text = overview_markdown(alerts_overview(register, config, NOW), config)
    assert "- **Waiting for approval:** 2, the oldest for 5 hours. HSA-2026-000001, HSA-2026-000002" in text
    assert "| Missing child | 1 | 2 | 1 | 0 | 4 |" in text
    assert "| **all types** | 2 | 3 | 1 | 1 | 7 |" in text
    assert "| SWFT | 1 | 3 days | 1 | 0 |" in text
    assert "- **Messages quarantined today:** 2" in text
    for repr_marks in ("{", "}", "[", "]", "'", "AWAITING_APPROVAL"):
        assert repr_marks not in text, repr_marks
    assert SURNAME not in text and "Ada" not in text


def test_an_empty_register_gives_an_overview_of_zeros(uow, config: Config) -> None:
    text = overview_markdown(alerts_overview(uow, config, NOW), config)
    assert "- **Waiting for approval:** 0." in text and "Every notice has been acknowledged." in text


def test_the_listing_gives_references_states_types_providers_and_review_dates_without_names(
        register) -> None:
    rows = list_alerts(register, now=NOW)
    assert [(r.reference, r.state, r.providers) for r in rows][:5] == [
        ("HSA-2026-000001", "AWAITING_APPROVAL", ("UHCW", "SWFT")),
        ("HSA-2026-000002", "AWAITING_APPROVAL", ("UHCW", "SWFT")),
        ("HSA-2026-000003", "ACTIVE", ("UHCW", "SWFT")),
        ("HSA-2026-000004", "ACTIVE", ("UHCW", "SWFT")),
        ("HSA-2026-000005", "ACTIVE", ("WMAS",))]
    assert all(r.names == "" for r in rows)
    with register() as u:
        listed = select(AuditEntry).where(AuditEntry.action == "alerts listed with names")
        assert not u.session.scalars(listed).all()


def test_the_listing_filters_by_state_and_by_provider(register) -> None:
    active = [r.reference for r in list_alerts(register, state=parse_state("active"), now=NOW)]
    assert active == ["HSA-2026-000003", "HSA-2026-000004", "HSA-2026-000005"]
    wmas = [r.reference for r in list_alerts(register, provider="wmas", now=NOW)]
    assert wmas == ["HSA-2026-000005"]
    assert parse_state("awaiting approval") == AlertStatus.AWAITING_APPROVAL
    with pytest.raises(UnknownState, match="awaiting_approval, active, rejected, withdrawn"):
        parse_state("open")


def test_names_are_shown_only_when_asked_and_the_listing_is_audited(register) -> None:
    rows = list_alerts(register, state=AlertStatus.ACTIVE, show_names_for="Dana Nightingale", now=NOW)
    assert {r.names for r in rows} == {f"Ada {SURNAME}"}
    with register() as u:
        [entry] = u.session.scalars(select(AuditEntry).where(AuditEntry.action == "alerts listed with names"))
        assert entry.actor == "Dana Nightingale"


def _config_folder(tmp_path: Path, config: Config, url: str) -> str:
    import shutil
    folder = tmp_path / "config"
    shutil.copytree(config.directory, folder)
    settings = yaml.safe_load((folder / "settings.yaml").read_text())
    settings["register"] = {"url": url}
    (folder / "settings.yaml").write_text(yaml.safe_dump(settings))
    return str(folder)


def test_the_alerts_command_prints_a_table_and_says_when_names_were_recorded(
        register, register_url: str, config: Config, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _config_folder(tmp_path, config, register_url)
    assert main(["--config", folder, "alerts", "--provider", "SWFT", "--state", "active"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["reference", "state", "type", "providers", "age", "review", "date"]
    assert "HSA-2026-000004  active  Missing child  UHCW, SWFT" in out
    assert "2 alerts in state active held by SWFT." in out and SURNAME not in out
    assert main(["--config", folder, "alerts", "--show-names", "--by", "Dana Nightingale"]) == 0
    shown = capsys.readouterr()
    assert SURNAME in shown.out and "recorded in the audit log as seen by Dana Nightingale" in shown.err
    assert main(["--config", folder, "alerts", "--state", "open"]) == 2
    assert "There is no state 'open'" in capsys.readouterr().err
