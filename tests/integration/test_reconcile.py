"""Reconciliation reports one finding for each seeded discrepancy, and none on a clean register."""

from __future__ import annotations

import os
from datetime import timedelta

from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.reconcile import CHECKS, reconcile, run_reconciliation
from testkit import samples
from tests.conftest import subject_of
from tests.factories import INBOX, SW
from tests.reconcile_seed import clean_register, seed_every_discrepancy


def test_a_clean_register_reports_nothing_and_the_digest_says_all_clear(intake_ctx: IntakeContext) -> None:
    clean_register(intake_ctx)
    report = run_reconciliation(intake_ctx)
    assert report.clean, report.findings
    admin = intake_ctx.mailbox.deliver_to / intake_ctx.config.settings.service.admin_team / "new"  # type: ignore[operator]
    assert ([subject_of(p.read_bytes()) for p in admin.iterdir()]
            == ["Nightly reconciliation 23/11/2026: all clear"])


def test_each_kind_of_discrepancy_is_reported_once(intake_ctx: IntakeContext) -> None:
    ctx = seed_every_discrepancy(intake_ctx)
    with ctx.uow() as u:
        report = reconcile(u.register, ctx.mailbox, ctx.config, ctx.clock())
    assert report.counts() == dict.fromkeys(CHECKS, 1), report.findings
    text = " ".join(f"{f.subject} {f.detail}" for f in report.findings)
    assert "HSA-2026-000002" in text and "SWFT" in text
    report = run_reconciliation(ctx)
    admin = ctx.mailbox.deliver_to / ctx.config.settings.service.admin_team / "new"  # type: ignore[operator]
    digest = [p.read_bytes().decode() for p in admin.iterdir() if b"Nightly reconciliation" in p.read_bytes()]
    assert len(digest) == 1 and f"{len(CHECKS)} to look at" in digest[0]
    for check in CHECKS:
        assert check in digest[0]


def test_mail_waiting_in_inbox_longer_than_the_limit_is_listed_by_mailbox_id_and_age_only(
        intake_ctx: IntakeContext) -> None:
    box, now = intake_ctx.mailbox, intake_ctx.clock()
    assert isinstance(box, MaildirMailbox)
    limit = intake_ctx.config.settings.limits.inbox_stale_minutes
    waited = {"stuck": limit + 75, "just-over": limit + 1, "fresh": limit - 1, "arriving": 0}
    names = {}
    for label, minutes in waited.items():
        path = deliver(box.root, samples.submission(SW, INBOX, body=f"{label}\n"))
        at = (now - timedelta(minutes=minutes)).timestamp()
        os.utime(path, (at, at))
        names[label] = path.name
    with intake_ctx.uow() as u:
        report = reconcile(u.register, box, intake_ctx.config, now)
    stale = [f for f in report.findings if f.check == "inbox-stale"]
    assert [f.subject for f in stale] == [f"{names['stuck']} ({(limit + 75) // 60} h)",
                                          f"{names['just-over']} ({limit + 1} min)"]  # oldest first
    assert report.counts()["inbox-stale"] == 2 and len(report.findings) == 2
    row = next(r for r in report.rows() if r["check"] == "inbox-stale")
    assert row["count"] == 2 and names["fresh"] not in str(row["where"])
    assert all(f.detail == "waiting in INBOX" for f in stale)  # nothing from the message itself
