"""Hospitals kept in step: the weekly "alerts you hold" digest and its CONFIRM, SEEN routed to the people
on record, review-lapse notices, and alerts that share a subject (keyed hashes, references only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.orm import Alert, InboundMessage, ProviderDigest, SubjectKey
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.service_layer.approval import summary_for_approval
from safeguard.service_layer.intake import IntakeContext, process_batch
from testkit import samples
from tests.conftest import put, subject_of
from tests.factories import INBOX, SW, TM
from tests.integration.test_reminders import Clock, at, raise_alert, reminders
from tests.withdrawals import approve_withdrawal

UHCW, SWFT, GEH = "safeguarding@uhcw.test", "safeguarding.team@swft.test", "safeguarding@geh.test"


@pytest.fixture
def clock_() -> Clock:
    return Clock()


@pytest.fixture
def ctx(config: Config, maildir: MaildirMailbox, uow: Callable[[], UnitOfWork],
        clock_: Clock) -> IntakeContext:
    return IntakeContext(config, maildir, uow, clock_)


def held(ctx: IntakeContext, address: str) -> list[bytes]:
    folder = Path(ctx.mailbox.deliver_to) / address / "new"  # type: ignore[attr-defined, arg-type]
    return [p.read_bytes() for p in sorted(folder.iterdir())] if folder.exists() else []


def subjects(ctx: IntakeContext, address: str) -> list[str]:
    return [subject_of(raw) for raw in held(ctx, address)]


def text_of(raw: bytes) -> str:
    body = message_from_bytes(raw, policy=policy.default).get_body(("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


def intake(ctx: IntakeContext, sender: str, subject: str, body: str = "", *, when: str,
           authenticated: bool = True) -> list[str]:
    """One intake run over one email; returns each message's reason."""
    ctx.clock.now = at(when)  # type: ignore[attr-defined]
    put(ctx.mailbox, samples.submission(sender, INBOX, subject=subject, body=body or "-\n",
                                        authenticated=authenticated))
    return [r.reason for r in process_batch(ctx.mailbox.list_new(), ctx)]


def test_each_provider_holding_alerts_gets_one_digest_of_exactly_its_references(
        ctx: IntakeContext, clock_: Clock) -> None:
    both = raise_alert(ctx, clock_, "2026-11-25T10:00+00:00")  # Wednesday: UHCW and SWFT
    uhcw_only = raise_alert(ctx, clock_, "2026-11-25T11:00+00:00", **{"Providers to alert": "UHCW"})
    swft_only = raise_alert(ctx, clock_, "2026-11-25T12:00+00:00", **{"Providers to alert": "SWFT"})
    assert "digest" not in reminders(ctx, "2026-11-27T08:00+00:00")  # Friday: not the digest day
    queued = reminders(ctx, "2026-11-30T08:00+00:00")  # Monday
    assert sorted(queued["digest"]) == ["HSA-DIGEST-2026W49-SWFT", "HSA-DIGEST-2026W49-UHCW"]
    for address, mine, other in ((UHCW, {both, uhcw_only}, swft_only), (SWFT, {both, swft_only}, uhcw_only)):
        [digest] = [raw for raw in held(ctx, address) if subject_of(raw).startswith("Alerts you hold")]
        text = text_of(digest)
        assert all(ref in text for ref in mine) and other not in text
        assert samples.SUBJECT_SURNAME not in text and samples.CHILD_NHS not in text  # references only
    assert held(ctx, GEH) == []  # holds nothing, gets nothing
    assert "digest" not in reminders(ctx, "2026-11-30T14:00+00:00")  # once a week, however many runs
    assert intake(ctx, SWFT, "CONFIRM HSA-DIGEST-2026W49-SWFT", when="2026-11-30T15:00+00:00") == [
        "digest-confirmed"]
    later = reminders(ctx, "2026-12-01T08:00+00:00")  # the next working day: only UHCW is chased
    assert later["digest-chase"] == ["HSA-DIGEST-2026W49-UHCW"]
    assert subjects(ctx, UHCW).count("HSA-DIGEST-2026W49-UHCW: please confirm the alerts you hold") == 1
    assert "digest-chase" not in reminders(ctx, "2026-12-01T09:00+00:00")
    assert reminders(ctx, "2026-12-02T08:00+00:00")["digest-escalation"] == ["HSA-DIGEST-2026W49-UHCW"]
    with ctx.uow() as u:
        confirmed = {d.provider_code: d.confirmed_by for d in u.session.scalars(select(ProviderDigest))}
    assert confirmed == {"SWFT": SWFT, "UHCW": None}


def test_a_digest_lists_what_was_withdrawn_since_the_last_one_and_a_bank_holiday_moves_it(
        ctx: IntakeContext, clock_: Clock) -> None:
    kept = raise_alert(ctx, clock_, "2026-05-13T10:00+01:00", **{"Providers to alert": "UHCW"})
    gone = raise_alert(ctx, clock_, "2026-05-13T11:00+01:00", **{"Providers to alert": "UHCW"})
    assert reminders(ctx, "2026-05-18T08:00+01:00")["digest"] == ["HSA-DIGEST-2026W21-UHCW"]
    assert intake(ctx, SW, f"WITHDRAW {gone}", "Reason: Found\n", when="2026-05-19T10:00+01:00") == [
        "withdraw-requested"]
    approve_withdrawal(ctx, gone)
    assert "digest" not in reminders(ctx, "2026-05-25T08:00+01:00")  # Spring bank holiday
    assert reminders(ctx, "2026-05-26T08:00+01:00")["digest"] == ["HSA-DIGEST-2026W22-UHCW"]
    [digest] = [raw for raw in held(ctx, UHCW) if subject_of(raw).startswith("Alerts you hold: "
                                                                              "HSA-DIGEST-2026W22")]
    text = text_of(digest)
    active, _, withdrawn = text.partition("WITHDRAWN since your last list")
    assert kept in active and gone not in active and gone in withdrawn


def test_after_its_last_alert_is_withdrawn_a_provider_gets_one_last_digest_then_nothing(
        ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-11-25T10:00+00:00", **{"Providers to alert": "UHCW"})
    assert intake(ctx, SW, f"WITHDRAW {ref}", "Reason: Found\n", when="2026-11-26T10:00+00:00") == [
        "withdraw-requested"]
    approve_withdrawal(ctx, ref)
    assert reminders(ctx, "2026-11-30T08:00+00:00")["digest"] == ["HSA-DIGEST-2026W49-UHCW"]
    [digest] = [raw for raw in held(ctx, UHCW) if subject_of(raw).startswith("Alerts you hold")]
    assert "ACTIVE: none" in text_of(digest) and ref in text_of(digest).partition("WITHDRAWN")[2]
    assert "digest" not in reminders(ctx, "2026-12-07T08:00+00:00")


def test_a_confirm_for_another_providers_digest_records_nothing(ctx: IntakeContext, clock_: Clock) -> None:
    raise_alert(ctx, clock_, "2026-11-25T10:00+00:00")
    reminders(ctx, "2026-11-30T08:00+00:00")
    assert intake(ctx, SWFT, "CONFIRM HSA-DIGEST-2026W49-UHCW", when="2026-11-30T09:00+00:00") == [
        "digest-unknown"]
    assert intake(ctx, UHCW, "CONFIRM HSA-DIGEST-2026W49-UHCW", when="2026-11-30T09:05+00:00",
                  authenticated=False) == ["auth-missing"]
    assert intake(ctx, SW, "CONFIRM HSA-DIGEST-2026W49-UHCW", when="2026-11-30T09:10+00:00") == [
        "provider-command"]
    with ctx.uow() as u:
        assert [d.confirmed_at for d in u.session.scalars(select(ProviderDigest))] == [None, None]


def test_seen_from_a_holding_provider_reaches_the_social_worker_team_manager_and_admin_team_at_once(
        ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-11-25T10:00+00:00")
    admin = ctx.config.settings.service.admin_team
    assert intake(ctx, UHCW, f"SEEN {ref}", "When: today 14:20\nWhere: Emergency department\n",
                  when="2026-11-26T14:30+00:00") == ["seen"]
    for address in (SW, TM, admin):
        [seen] = [raw for raw in held(ctx, address) if subject_of(raw) == f"URGENT: {ref}: seen at UHCW"]
        text = text_of(seen)
        assert text.lstrip().startswith("THIS IS AN URGENT ALERT")
        assert "When: today 14:20" in text and "Where: Emergency department" in text
        assert "out-of-hours number: 024 7683 2222" in text
    with ctx.uow() as u:
        actions = [a for (a,) in u.session.execute(select(InboundMessage.kind)).all()]
    assert actions.count("seen") == 1


def test_seen_from_a_provider_that_does_not_hold_the_alert_or_unauthenticated_changes_nothing(
        ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-11-25T10:00+00:00")
    before = {address: len(held(ctx, address)) for address in (SW, TM)}
    assert intake(ctx, GEH, f"SEEN {ref}", "Where: ward 3\n", when="2026-11-26T10:00+00:00") == [
        "seen-not-holding"]
    assert intake(ctx, UHCW, f"SEEN {ref}", "Where: ward 3\n", when="2026-11-26T10:05+00:00",
                  authenticated=False) == ["auth-missing"]
    assert intake(ctx, SW, f"SEEN {ref}", when="2026-11-26T10:10+00:00") == ["provider-command"]
    assert {address: len(held(ctx, address)) for address in (SW, TM)} == before
    admin = ctx.config.settings.service.admin_team
    assert not any("seen at" in s for s in subjects(ctx, admin))


def test_a_lapsed_review_tells_each_holding_provider_once_however_many_runs(
        ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-11-24T10:00+00:00", review=date(2026, 12, 4))  # a Friday
    assert "review-lapse" not in reminders(ctx, "2026-12-04T08:00+00:00")  # the review date itself
    assert sorted(reminders(ctx, "2026-12-07T08:00+00:00")["review-lapse"]) == [ref, ref]
    for _run in range(3):
        assert "review-lapse" not in reminders(ctx, "2026-12-07T09:00+00:00")
    assert "review-lapse" not in reminders(ctx, "2026-12-08T08:00+00:00")
    for address, code in ((UHCW, "UHCW"), (SWFT, "SWFT")):
        assert subjects(ctx, address).count(f"{ref}: active pending review: keep the flag ({code})") == 1
    assert held(ctx, GEH) == []


def test_with_on_review_lapse_withdraw_a_lapsed_alert_is_withdrawn_the_usual_way(
        config: Config, maildir: MaildirMailbox, uow: Callable[[], UnitOfWork], clock_: Clock) -> None:
    withdrawing = config.model_copy(update={"timescales": config.timescales.model_copy(
        update={"on_review_lapse": "withdraw"})})
    ctx = IntakeContext(withdrawing, maildir, uow, clock_)
    ref = raise_alert(ctx, clock_, "2026-11-24T10:00+00:00", review=date(2026, 12, 4))
    assert reminders(ctx, "2026-12-07T08:00+00:00")["review-lapse-withdrawal"] == [ref]
    assert "review-lapse-withdrawal" not in reminders(ctx, "2026-12-07T09:00+00:00")
    from safeguard.service_layer.withdrawal import pending_request
    with ctx.uow() as u:
        alert = u.register.alert(ref)
        assert alert is not None
        request = pending_request(u.register, alert)
        assert request is not None and request.requested_by == "system"  # the team decides, as usual
    assert any(s == f"{ref}: review date passed, withdrawal requested" for s in subjects(ctx, SW))


def test_a_second_alert_sharing_an_nhs_number_is_flagged_by_reference_only(
        ctx: IntakeContext, clock_: Clock) -> None:
    first = raise_alert(ctx, clock_, "2026-11-25T10:00+00:00")
    clock_.now = at("2026-11-26T10:00+00:00")
    people = samples.subjects(clock_.now.date())
    people[0]["Surname"] = "Differently-Spelt"  # the NHS number alone links them
    put(ctx.mailbox, samples.submission(SW, INBOX, attachments=[("f.xlsx", samples.xlsx_form(
        samples.form_fields(clock_.now.date()), people))]))
    [result] = process_batch(ctx.mailbox.list_new(), ctx)
    assert result.outcome == "accepted" and result.reference != first
    receipt = [raw for raw in held(ctx, SW) if subject_of(raw).startswith(f"{result.reference}")]
    assert any(f"another active alert shares a subject: {first}" in text_of(raw) for raw in receipt)
    with ctx.uow() as u:
        summary = summary_for_approval(u.register, ctx.config, result.reference, 1, clock_.now)
        keys = [k.key for k in u.session.scalars(select(SubjectKey))]
        alerts = u.session.scalars(select(Alert)).all()
    assert summary is not None
    assert f"Another active alert shares a subject: {first}." in summary.warnings
    assert samples.CHILD_NHS not in summary.markdown()
    assert all(samples.CHILD_NHS not in key and len(key) == 40 for key in keys) and len(alerts) == 2


def test_a_person_in_many_alerts_is_flagged_with_the_newest_ten_and_more(
        ctx: IntakeContext, clock_: Clock) -> None:
    from safeguard.service_layer.subjects import SHOWN, shared_subject_warnings
    earlier = [raise_alert(ctx, clock_, f"2026-11-25T{9 + n // 6:02d}:{n % 6 * 10:02d}+00:00")
               for n in range(SHOWN + 2)]  # all about the sample child, all active
    clock_.now = at("2026-11-26T10:00+00:00")
    latest = raise_alert(ctx, clock_, "2026-11-26T10:00+00:00")
    with ctx.uow() as u:
        alert = u.register.alert(latest)
        assert alert is not None
        [warning] = shared_subject_warnings(u.register, alert)
    newest = ", ".join(sorted(earlier)[-SHOWN:])
    assert warning == f"another active alert shares a subject: {newest} and more"


def test_the_activity_return_counts_seen_digests_confirmed_and_lapse_notices(
        ctx: IntakeContext, clock_: Clock, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from safeguard.adapters.returns.activity import load_activity, write_activity
    ref = raise_alert(ctx, clock_, "2026-11-24T10:00+00:00", review=date(2026, 12, 4))
    assert intake(ctx, UHCW, f"SEEN {ref}", when="2026-12-03T10:00+00:00") == ["seen"]
    reminders(ctx, "2026-12-07T08:00+00:00")  # Monday: the digests, and the review has lapsed
    assert intake(ctx, SWFT, "CONFIRM HSA-DIGEST-2026W50-SWFT", when="2026-12-07T09:00+00:00") == [
        "digest-confirmed"]
    with ctx.uow() as u:
        activity = load_activity(u.session, ctx.config, "2026-12")
    rows = activity.hospitals.set_index("Provider").to_dict("index")
    uhcw = rows["UHCW: University Hospitals Coventry and Warwickshire NHS Trust"]
    swft = rows["SWFT: South Warwickshire University NHS Foundation Trust"]
    assert (uhcw["SEEN reported"], uhcw["Digests confirmed"], uhcw["Digests unconfirmed"]) == (1, 0, 1)
    assert (swft["SEEN reported"], swft["Digests confirmed"], swft["Review-lapse notices"]) == (0, 1, 1)
    assert rows["Total"] == {"SEEN reported": 1, "Digests sent": 2, "Digests confirmed": 1,
                             "Digests unconfirmed": 1, "Review-lapse notices": 2}
    book = write_activity(activity, ctx.config, tmp_path / "activity.xlsx", clock_.now)
    assert "Hospitals" in load_workbook(book, read_only=True).sheetnames
