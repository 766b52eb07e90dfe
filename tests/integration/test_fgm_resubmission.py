"""FGM resubmission is reversible: a replaced file's records are kept and left out of the returns,
`fgm restore` gives back the original month's numbers exactly, and a much smaller replacement tells the
admin team."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from safeguard.adapters.register.orm import FgmRecord, FgmSubmission
from safeguard.adapters.returns.fgm import breakdowns, headline, load_month
from safeguard.service_layer.fgm_replacement import CannotRestore, restore_submission
from safeguard.service_layer.intake import IntakeContext
from tests.conftest import NOW, subject_of
from tests.integration.test_fgm_returns import NUMBERS, UHCW, record, replies_to, send

A, B, C = (next(NUMBERS) for _ in range(3))
OCT = date(2026, 10, 5)


def numbers(ctx: IntakeContext) -> tuple[dict, dict, list, list]:
    """Every number the month's returns are made of: headline, each breakdown, the records, the trend."""
    with ctx.uow() as u:
        fm = load_month(u.session, ctx.config, "2026-10")
    tables = {name: table.to_dict("records") for name, table in breakdowns(fm, ctx.config).items()}
    return (headline(fm), tables, fm.records.to_dict("records"),
            fm.trend.to_dict("records"))


def test_a_replacement_then_restore_gives_the_original_months_returns(intake_ctx: IntakeContext) -> None:
    send(intake_ctx, UHCW, "2026-10", [record(A, OCT), record(B, OCT), record(C, OCT),
                                       record(C, date(2026, 10, 20))], "UHCW")
    original = numbers(intake_ctx)
    send(intake_ctx, UHCW, "2026-10", [record(A, OCT)], "UHCW")  # a quarter of the rows: the team is told
    assert numbers(intake_ctx)[0]["Total attendances"] == 1
    admin = replies_to(intake_ctx, intake_ctx.config.settings.service.admin_team)
    assert [subject_of(m) for m in admin] == [
        "FGM UHCW 2026-10: a much smaller file replaced the earlier one"]
    with intake_ctx.uow() as u:
        first, _second = u.session.scalars(select(FgmSubmission).order_by(FgmSubmission.id)).all()
        assert first.status == "replaced" and u.session.scalars(
            select(FgmRecord.status).where(FgmRecord.submission_id == first.id)).all() == ["replaced"] * 4
        restore_submission(u.register, first.id, "Dana Nightingale", NOW)
        u.commit()
    assert numbers(intake_ctx) == original
    with intake_ctx.uow() as u:
        assert [s.status for s in u.session.scalars(select(FgmSubmission).order_by(FgmSubmission.id))] == [
            "accepted", "replaced"]
        with pytest.raises(CannotRestore, match="not a replaced FGM file"):
            restore_submission(u.register, first.id, "Dana Nightingale", NOW)


def test_a_replacement_of_similar_size_tells_nobody(intake_ctx: IntakeContext) -> None:
    send(intake_ctx, UHCW, "2026-10", [record(A, OCT), record(B, OCT)], "UHCW")
    send(intake_ctx, UHCW, "2026-10", [record(A, OCT), record(C, OCT)], "UHCW")
    assert replies_to(intake_ctx, intake_ctx.config.settings.service.admin_team) == []
