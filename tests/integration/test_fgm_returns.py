"""FGM submissions and the monthly returns on a synthetic month where every count is known by hand.

September 2026: UHCW sends patients A and B.
October 2026:   UHCW sends A (seen before: not newly recorded), C twice (two attendances).
                SWFT first sends D and a row with an error; then resends the month with D and E,
                which replaces the first file.
                GEH and BHAM (acute trusts) send nothing.
So October has 5 attendances (UHCW 3, SWFT 2), 4 individuals (A, C, D, E), 3 newly recorded
(C, D, E), 1 active case (A), and SWFT's first file is replaced.

For the breakdowns added later (their values change none of the earlier ones): C's first attendance
is from CV32 (Warwick), FGM undertaken in Egypt (Northern Africa), not advised on illegality; D lives
in B15 (Birmingham) and was not advised on health implications; everyone else lives in Coventry
(CV1, CV3), was advised on both, and had FGM in Somalia (Eastern Africa). UHCW and SWFT are both
acute trusts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from safeguard.adapters.register.orm import AuditEntry, FgmSubmission
from safeguard.adapters.returns.fgm import (
    attendance_list,
    breakdowns,
    headline,
    load_month,
    write_aggregate,
    write_record_level,
)
from safeguard.adapters.workbooks.fgm_template import fgm_file
from safeguard.service_layer.intake import IntakeContext, process_message
from testkit import samples
from testkit.fgm_synthetic import record, valid_nhs_numbers
from tests.conftest import put, subject_of
from tests.factories import INBOX

UHCW, SWFT = "safeguarding@uhcw.test", "safeguarding.team@swft.test"
NUMBERS = valid_nhs_numbers()
A, B, C, D, E = (next(NUMBERS) for _ in range(5))


def send(ctx: IntakeContext, sender: str, month: str, rows: list[dict], org: str, subject: str = "") -> list:
    data = fgm_file(ctx.config.fgm, rows, month=month, organisation=org)
    put(ctx.mailbox, samples.submission(sender, INBOX, subject=subject or f"FGM return {month}",
                                        attachments=[("fgm.xlsx", data)]))
    return [process_message(m, ctx) for m in ctx.mailbox.list_new()]


def replies_to(ctx: IntakeContext, address: str) -> list[bytes]:
    folder = ctx.mailbox.deliver_to / address / "new"  # type: ignore[operator]
    return sorted((p.read_bytes() for p in folder.iterdir()), key=len) if folder.exists() else []


def october_month(ctx: IntakeContext, adapt: Callable[[dict], dict] = lambda row: row) -> IntakeContext:
    """The hand-worked month, each row passed through `adapt` (for a configuration that renames or
    drops items)."""
    sept, octo = date(2026, 9, 10), date(2026, 10, 5)

    def rows(*records: dict) -> list[dict]:
        return [adapt(r) for r in records]

    send(ctx, UHCW, "2026-09", rows(record(A, sept), record(B, sept)), "UHCW")
    send(ctx, UHCW, "2026-10", rows(record(A, octo),
                                    record(C, octo, fgm_type="4 - Type 4", type4_qualifier="PI - Piercing",
                                           postcode="CV32 5AB", country_fgm_undertaken="EG - Egypt",
                                           advised_illegality="N - No"),
                                    record(C, date(2026, 10, 20))), "UHCW")
    first = send(ctx, SWFT, "2026-10", rows(record(D, octo), record(E, date(2026, 11, 2))), "SWFT")
    assert [(r.outcome, r.reason) for r in first] == [("recorded", "fgm-with-errors")]
    again = send(ctx, SWFT, "2026-10", rows(record(D, octo, postcode="B15 2TT", advised_health="N - No"),
                                            record(E, octo, nhs_number="not available", postcode="CV3 4GH")),
                 "SWFT")
    assert [(r.outcome, r.reason) for r in again] == [("recorded", "fgm-accepted")]
    return ctx


@pytest.fixture
def october(intake_ctx: IntakeContext) -> IntakeContext:
    return october_month(intake_ctx)


# Each breakdown worked by hand: category -> (individuals, newly recorded, attendances), unrounded.
GOLDEN = {
    "Submitting organisation": {"SWFT": (2, 2, 2), "UHCW": (2, 1, 3), "Total": (4, 3, 5)},
    "FGM type": {"Type 3": (4, 3, 4), "Type 4": (1, 1, 1), "Total": (4, 3, 5)},
    "Type 4 qualifier": {"Piercing": (1, 1, 1), "Total": (1, 1, 1)},
    "Area of residence (local authority)": {"Coventry": (3, 2, 3), "Warwick": (1, 1, 1),
                                            "Birmingham": (1, 1, 1), "Total": (4, 3, 5)},
    "Advised on health implications": {"Yes": (3, 2, 4), "No": (1, 1, 1), "Total": (4, 3, 5)},
    "Advised on illegality": {"Yes": (4, 3, 4), "No": (1, 1, 1), "Total": (4, 3, 5)},
    "Country where FGM was undertaken (region)": {"Eastern Africa": (4, 3, 4), "Northern Africa": (1, 1, 1),
                                                  "Total": (4, 3, 5)},
    "Submitter type": {"Acute trust": (4, 3, 5), "Total": (4, 3, 5)},
}


def counts(table: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    name = table.columns[0]
    return {(r[name][:4] if name == "Submitting organisation" and r[name] != "Total" else r[name]):
            (r["Individuals"], r["Newly recorded"], r["Total attendances"]) for r in table.to_dict("records")}


def test_every_count_matches_the_hand_worked_month(october: IntakeContext) -> None:
    with october.uow() as u:
        fm = load_month(u.session, october.config, "2026-10")
    assert headline(fm) == {"Individuals": 4, "Newly recorded": 3, "Total attendances": 5, "Active cases": 1}
    tables = breakdowns(fm, october.config)
    assert {name: counts(tables[name]) for name in GOLDEN} == GOLDEN
    assert fm.silent == ["GEH", "BHAM"]


def test_the_first_swft_file_was_replaced_and_the_audit_log_says_so(october: IntakeContext) -> None:
    with october.uow() as u:
        statuses = [(s.provider_code, s.month, s.status, s.rows_valid, s.rows_with_errors)
                    for s in u.session.scalars(select(FgmSubmission).order_by(FgmSubmission.id))]
        actions = [a.action for a in u.session.scalars(select(AuditEntry))]
    assert statuses == [("UHCW", "2026-09", "accepted", 2, 0), ("UHCW", "2026-10", "accepted", 3, 0),
                        ("SWFT", "2026-10", "replaced", 1, 1), ("SWFT", "2026-10", "accepted", 2, 0)]
    assert actions.count("FGM submission replaced") == 1


def test_a_submission_with_errors_gets_each_by_row_and_column(october: IntakeContext) -> None:
    replies = [r.decode() for r in replies_to(october, SWFT)]
    first = next(r for r in replies if "error(s) to correct" in subject_of(r.encode()))
    assert "Row 3, Care contact date: is outside the reporting month (10/2026)" in first
    assert "1 valid record(s) are kept meanwhile" in first


@pytest.mark.parametrize(("overrides", "column", "message"), [
    ({"nhs_number": "9434765918"}, "NHS number", "check digit"),
    ({"date_of_birth": date(2026, 10, 6)}, "Date of birth", "is not before the care contact date"),
    ({"deinfibulation": "Y - Yes", "fgm_type": "2 - Type 2"}, "Deinfibulation undertaken",
     "only be Yes for FGM Type 3"),
    ({"type4_qualifier": "PR - Pricking"}, "Type 4 qualifier", "only for FGM Type 4"),
    ({"fgm_type": "7 - Type 7"}, "FGM type", "not a permitted value"),
    ({"country_of_birth": None}, "Country of birth", "is missing"),
])
def test_each_record_rule(intake_ctx: IntakeContext, overrides: dict, column: str, message: str) -> None:
    [result] = send(intake_ctx, UHCW, "2026-10", [record(A, date(2026, 10, 5), **overrides)], "UHCW")
    assert result.reason == "fgm-with-errors"
    [reply] = replies_to(intake_ctx, UHCW)
    assert f"Row 2, {column}: " in reply.decode() and message in reply.decode()


def test_an_unreadable_or_unlabelled_submission_is_answered(intake_ctx: IntakeContext) -> None:
    [result] = send(intake_ctx, UHCW, "", [record(A, date(2026, 10, 5))], "", subject="FGM return")
    assert (result.outcome, result.reason) == ("invalid", "fgm-unreadable")
    assert b"could not tell which month" in replies_to(intake_ctx, UHCW)[0]


def test_a_csv_with_the_same_headers_is_accepted(intake_ctx: IntakeContext) -> None:
    items = intake_ctx.config.fgm.items
    row = record(A, date(2026, 10, 5))
    lines = [",".join(i.label for i in items),
             ",".join(("" if row.get(i.key) is None else (row[i.key].strftime("%d/%m/%Y") if isinstance(
                 row[i.key], date) else str(row[i.key]))) for i in items)]
    put(intake_ctx.mailbox, samples.submission(UHCW, INBOX, subject="FGM 2026-10", attachments=[
        ("october.csv", ("\n".join(lines) + "\n").encode())]))
    [result] = [process_message(m, intake_ctx) for m in intake_ctx.mailbox.list_new()]
    assert result.reason == "fgm-accepted", replies_to(intake_ctx, UHCW)


def test_both_workbooks_are_written(october: IntakeContext, tmp_path: Path) -> None:
    now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    with october.uow() as u:
        fm = load_month(u.session, october.config, "2026-10")
    records = write_record_level(fm, october.config, tmp_path / "record.xlsx", now)
    aggregate = write_aggregate(fm, october.config, tmp_path / "aggregate.xlsx", now)
    book = load_workbook(records)
    rows = list(book["Records"].iter_rows(values_only=True))
    assert rows[0][:4] == ("Submitting organisation", "Reporting month", "NHS number", "Date of birth")
    assert len(rows) == 6 and {r[0] for r in rows[1:]} == {"UHCW", "SWFT"}
    agg = load_workbook(aggregate)
    assert agg.sheetnames[:3] == ["Cover", "Summary", "Prevalence"] and "Data quality" in agg.sheetnames
    summary = {r[0]: r[1] for r in agg["Summary"].iter_rows(min_row=2, max_row=4, values_only=True)}
    assert summary == {"Individuals": 5, "Newly recorded": 5, "Total attendances": 5}  # 4, 3, 5 rounded


GEH, CWPT = "safeguarding@geh.test", "safeguarding@covwarkpt.test"


def test_the_attendance_list_names_each_child_seen_three_times_at_emergency_services_in_12_months(
        october: IntakeContext, tmp_path: Path) -> None:
    """G (aged 14): emergency medicine in January (GEH), June (CWPT) and October (GEH): listed.
    H (a child): three, but the first was October 2025, outside the 12 months: not listed.
    J (an adult): three in October: not listed. K (a child): three in October, in paediatrics: not listed."""
    G, H, J, K = (next(NUMBERS) for _ in range(4))
    child, emergency = date(2012, 3, 1), "180 - Emergency medicine"

    def visit(nhs: str, day: date, **more: object) -> dict:
        return record(nhs, day, **{"date_of_birth": child, "treatment_function": emergency, **more})

    send(october, GEH, "2025-10", [visit(H, date(2025, 10, 20))], "GEH")
    send(october, GEH, "2026-01", [visit(G, date(2026, 1, 15))], "GEH")
    send(october, GEH, "2026-03", [visit(H, date(2026, 3, 3))], "GEH")
    send(october, CWPT, "2026-06", [visit(G, date(2026, 6, 10))], "CWPT")
    send(october, GEH, "2026-10", [visit(G, date(2026, 10, 12)), visit(H, date(2026, 10, 8)),
                                   *(visit(J, date(2026, 10, d), date_of_birth=date(1990, 1, 1))
                                     for d in (1, 2, 3)),
                                   *(visit(K, date(2026, 10, d), treatment_function="420 - Paediatrics")
                                     for d in (1, 2, 3))], "GEH")
    with october.uow() as u:
        fm = load_month(u.session, october.config, "2026-10")
    listed = attendance_list(fm, october.config).to_dict("records")
    assert listed == [{"NHS number": G, "Date of birth": "2012-03-01", "Postcode of usual address": "CV1 2AB",
                       "Attendances": 3, "First": date(2026, 1, 15), "Last": date(2026, 10, 12),
                       "Submitted by": "CWPT, GEH"}]
    assert counts(breakdowns(fm, october.config)["Submitter type"]) == {
        "Acute trust": (8, 5, 13), "Total": (8, 5, 13)}  # + G, H (seen before), J, K: 3 visits each
    now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    sheet = load_workbook(write_record_level(fm, october.config, tmp_path / "r.xlsx", now))["Attendance list"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[2][:4] == ("NHS number", "Date of birth", "Postcode of usual address", "Attendances")
    assert [r[:4] for r in rows[3:]] == [(G, datetime(2012, 3, 1), "CV1 2AB", 3)]
    aggregate = load_workbook(write_aggregate(fm, october.config, tmp_path / "a.xlsx", now))
    assert not any(G in str(cell) for sheet in aggregate.worksheets
                   for row in sheet.iter_rows(values_only=True) for cell in row)
