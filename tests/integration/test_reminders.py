"""Reminders at chosen instants produce exactly the expected set, and never twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.config import Config
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.reminders import run_reminders
from safeguard.service_layer.sending import send_unsent
from testkit import samples
from tests.conftest import put, subject_of
from tests.factories import INBOX, SW

CAL = WorkingDays()
UHCW = "safeguarding@uhcw.test"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock_() -> Clock:
    return Clock()


def without_digests(config: Config) -> Config:
    """The weekly digests (tests/integration/test_hospitals.py) left out, so that these tests see the
    other reminders alone on any weekday."""
    timescales = config.timescales.model_copy(update={"digest_weekday": None})
    return config.model_copy(update={"timescales": timescales})


@pytest.fixture
def ctx(config: Config, maildir: MaildirMailbox, uow: Callable[[], UnitOfWork],
        clock_: Clock) -> IntakeContext:
    return IntakeContext(without_digests(config), maildir, uow, clock_)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def raise_alert(ctx: IntakeContext, clock: Clock, when: str, review: date | None = None,
                acknowledge: tuple[str, ...] = (), **form: str) -> str:
    """Submit and approve at `when` (local time with offset); providers in `acknowledge` reply at once."""
    clock.now = at(when)
    day = clock.now.date()
    fields = samples.form_fields(day, **form)
    if review:
        fields["Review date"] = review.strftime("%d/%m/%Y")
    put(ctx.mailbox, samples.submission(SW, INBOX, attachments=[("f.xlsx", samples.xlsx_form(
        fields, samples.subjects(day) if "people" not in form else []))]))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.outcome == "accepted", result
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, result.reference)
    for address in acknowledge:
        put(ctx.mailbox, samples.submission(address, INBOX, subject=f"RE: {result.reference}",
                                            body="Done.\n"))
        [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    return result.reference


def reminders(ctx: IntakeContext, when: str) -> dict[str, list[str]]:
    run = run_reminders(ctx.uow, ctx.config, CAL, at(when))
    send_unsent(ctx)
    return run.queued


def test_friday_before_a_bank_holiday_monday(ctx: IntakeContext, clock_: Clock) -> None:
    # Friday; Monday 25th is a holiday
    ref = raise_alert(ctx, clock_, "2026-05-22T10:00+01:00", acknowledge=(UHCW,))
    assert reminders(ctx, "2026-05-22T16:00+01:00") == {}
    assert reminders(ctx, "2026-05-25T08:00+01:00") == {}  # Spring bank holiday: nothing is sent
    assert reminders(ctx, "2026-05-26T08:00+01:00") == {"provider-chase": [ref]}  # SWFT only: UHCW replied
    assert reminders(ctx, "2026-05-26T08:00+01:00") == {}  # run again: nothing twice
    assert reminders(ctx, "2026-05-27T08:00+01:00") == {"provider-escalation": [ref]}
    chase = [subject_of(p.read_bytes())
             for p in (ctx.mailbox.deliver_to / "safeguarding.team@swft.test" / "new")  # type: ignore[operator]
             .iterdir()]
    assert f"{ref}: please acknowledge the health alert sent to SWFT" in chase
    assert not any("please acknowledge" in s for s in [subject_of(p.read_bytes()) for p in (
        ctx.mailbox.deliver_to / UHCW / "new").iterdir()])  # type: ignore[operator]


def test_christmas_eve(ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-12-23T11:00+00:00", review=date(2026, 12, 31))
    assert reminders(ctx, "2026-12-24T08:00+00:00") == {"provider-chase": [ref, ref], "review-soon": [ref]}
    for holiday in ("2026-12-25T08:00+00:00", "2026-12-28T08:00+00:00"):
        assert reminders(ctx, holiday) == {}
    assert reminders(ctx, "2026-12-29T08:00+00:00") == {"provider-escalation": [ref, ref]}
    # the first working day after the review date: each of the two providers is told to keep the flag
    assert reminders(ctx, "2027-01-04T08:00+00:00") == {"review-passed": [ref], "review-lapse": [ref, ref]}
    text = next(p for p in (ctx.mailbox.deliver_to / SW / "new").iterdir()  # type: ignore[operator]
                if "coming up" in subject_of(p.read_bytes())).read_text()
    assert f'WHAT TO DO: reply with the subject "EXTEND {ref} to YYYY-MM-DD"' in text


def test_a_leap_day(ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2028-02-28T09:00+00:00", review=date(2028, 3, 3), acknowledge=(UHCW,))
    assert reminders(ctx, "2028-02-29T08:00+00:00") == {"provider-chase": [ref], "review-soon": [ref]}


def test_the_local_date_decides_when_the_clocks_change(ctx: IntakeContext, clock_: Clock) -> None:
    # Friday; clocks go forward Sunday
    ref = raise_alert(ctx, clock_, "2026-03-27T10:00+00:00", acknowledge=(UHCW,))
    assert reminders(ctx, "2026-03-29T01:30+00:00") == {}  # 02:30 BST on Sunday, just after the change
    assert reminders(ctx, "2026-03-29T22:30+00:00") == {}  # still Sunday in London
    assert reminders(ctx, "2026-03-29T23:30+00:00") == {"provider-chase": [ref]}  # Monday 00:30 BST


def test_unborn_baby_reminder_after_the_expected_date(ctx: IntakeContext, clock_: Clock) -> None:
    clock_.now = at("2026-11-23T10:00+00:00")
    edd = date(2026, 12, 1)
    fields = samples.form_fields(clock_.now.date(), **{"Alert type": "Unborn baby",
                                                       "Legal status": "Pre-birth plan"})
    people = [{"Role": "Unborn", "Surname": samples.SUBJECT_SURNAME,
               "Expected date of delivery": edd.strftime("%d/%m/%Y")},
              samples.subjects(clock_.now.date())[1]]
    put(ctx.mailbox, samples.submission(SW, INBOX,
                                        attachments=[("f.xlsx", samples.xlsx_form(fields, people))]))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.outcome == "accepted", result
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    ref = result.reference
    assert "unborn-born" not in reminders(ctx, "2026-12-14T08:00+00:00")
    assert reminders(ctx, "2026-12-15T08:00+00:00").get("unborn-born") == [ref]
    assert "unborn-born" not in reminders(ctx, "2026-12-16T08:00+00:00")


def test_an_invalid_submission_not_resubmitted_gets_one_nudge(ctx: IntakeContext, clock_: Clock) -> None:
    clock_.now = at("2026-11-20T15:00+00:00")  # Friday
    put(ctx.mailbox, samples.submission(SW, INBOX, attachments=[("f.xlsx", samples.xlsx_form(
        samples.form_fields(clock_.now.date(), Urgency="Never"), samples.subjects(clock_.now.date())))]))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.outcome == "invalid"
    assert reminders(ctx, "2026-11-23T08:00+00:00") == {"resubmit-nudge": [str(result.inbound_id)]}
    assert reminders(ctx, "2026-11-24T08:00+00:00") == {}


def test_two_runs_at_once_send_nothing_twice(ctx: IntakeContext, clock_: Clock, tmp_path: Path) -> None:
    ref = raise_alert(ctx, clock_, "2026-12-23T11:00+00:00", review=date(2026, 12, 31))
    results: list[dict[str, int]] = []
    now = at("2026-12-24T08:00+00:00")

    def one_run() -> None:
        results.append(run_reminders(ctx.uow, ctx.config, CAL, now).counts())

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total: dict[str, int] = {}
    for counts in results:
        for kind, n in counts.items():
            total[kind] = total.get(kind, 0) + n
    assert total == {"provider-chase": 2, "review-soon": 1}, results
    send_unsent(ctx)
    swft = [subject_of(p.read_bytes())
            for p in (ctx.mailbox.deliver_to / "safeguarding.team@swft.test" / "new")  # type: ignore[operator]
            .iterdir()]
    assert swft.count(f"{ref}: please acknowledge the health alert sent to SWFT") == 1


def test_an_alert_long_past_its_review_date_is_escalated_then_closed_and_every_holder_told(
        ctx: IntakeContext, clock_: Clock) -> None:
    # config/timescales.yaml: escalate 28 days after the review date, close at 56
    ref = raise_alert(ctx, clock_, "2026-01-05T10:00+00:00", review=date(2026, 2, 2),
                      acknowledge=(UHCW, "safeguarding.team@swft.test"))
    # the team is told the review has passed; each provider holding it, to keep the flag (review_lapse)
    assert reminders(ctx, "2026-02-27T08:00+00:00") == {"review-passed": [ref], "review-lapse": [ref, ref]}
    assert reminders(ctx, "2026-03-02T08:00+00:00") == {"end-of-life-escalation": [ref]}
    assert reminders(ctx, "2026-03-27T08:00+00:00") == {}  # not yet 56 days
    assert reminders(ctx, "2026-03-30T08:00+00:00") == {"end-of-life-close": [ref]}
    assert reminders(ctx, "2026-03-31T08:00+00:00") == {}  # closed: out of the daily pass
    with ctx.uow() as u:
        alert = u.register.alert(ref)
        assert alert is not None and alert.status == "WITHDRAWN"
        held = {d.provider_code: d.status for d in u.register.deliveries(alert)}
        sent = {e.kind for e in u.register.outbox_for_alert(alert.id) if e.status == "sent"}
    assert held == {"UHCW": "withdrawn", "SWFT": "withdrawn"}
    assert {"notice:withdrawal", "reminder:end-of-life-close", "reminder:end-of-life-escalation"} <= sent


def test_an_answer_before_the_end_of_life_keeps_the_alert(ctx: IntakeContext, clock_: Clock) -> None:
    ref = raise_alert(ctx, clock_, "2026-01-05T10:00+00:00", review=date(2026, 2, 2),
                      acknowledge=(UHCW, "safeguarding.team@swft.test"))
    assert reminders(ctx, "2026-03-02T08:00+00:00") == {"review-passed": [ref], "review-lapse": [ref, ref],
                                                        "end-of-life-escalation": [ref]}
    clock_.now = at("2026-03-03T09:00+00:00")
    put(ctx.mailbox, samples.submission(SW, INBOX, subject=f"EXTEND {ref} to 2026-04-01"))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.outcome == "recorded", result
    assert reminders(ctx, "2026-03-30T08:00+00:00") == {"review-soon": [ref]}  # the new review date
    with ctx.uow() as u:
        alert = u.register.alert(ref)
        assert alert is not None and alert.status == "ACTIVE"


def test_send_unsent_drains_a_queue_longer_than_one_page(ctx: IntakeContext, clock_: Clock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.service_layer import sending

    monkeypatch.setattr(sending, "UNSENT_PAGE", 2)
    refs = [raise_alert(ctx, clock_, f"2026-01-0{day}T10:00+00:00") for day in (5, 6, 7)]
    run_reminders(ctx.uow, ctx.config, CAL, at("2026-01-12T08:00+00:00"))  # chases and escalations
    assert sum(send_unsent(ctx).values()) >= 2 * len(refs)
    with ctx.uow() as u:
        assert u.register.unsent_ids() == []
