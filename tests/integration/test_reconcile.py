"""Reconciliation reports one finding for each seeded discrepancy, and none on a clean register."""

from __future__ import annotations

from safeguard.service.intake import IntakeContext
from safeguard.service.reconcile import CHECKS, reconcile, run_reconciliation
from tests.conftest import subject_of
from tests.reconcile_seed import clean_register, seed_every_discrepancy


def test_a_clean_register_reports_nothing_and_the_digest_says_all_clear(intake_ctx: IntakeContext) -> None:
    clean_register(intake_ctx)
    report = run_reconciliation(intake_ctx)
    assert report.clean, report.findings
    admin = intake_ctx.mailbox.deliver_to / intake_ctx.config.settings.service.admin_team / "new"  # type: ignore[operator]
    assert [subject_of(p.read_bytes()) for p in admin.iterdir()] == ["Nightly reconciliation 23/11/2026: all clear"]


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
