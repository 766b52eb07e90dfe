"""The returns as people receive them: the activity return's counts, the CLI, the drop folder, the
emails (record-level only to the allowed addresses), and every workbook opened by LibreOffice."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from safeguard.adapters.returns.activity import load_activity
from safeguard.adapters.workbooks.fgm_template import fgm_file
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.fgm_intake import import_drop_folder
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.returns import email_returns, produce
from testkit import samples
from testkit.fgm_synthetic import random_month, record
from tests.conftest import put, subject_of
from tests.factories import INBOX, SW
from tests.withdrawals import approve_withdrawal

UHCW = "safeguarding@uhcw.test"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def october_activity(ctx: IntakeContext) -> IntakeContext:
    """Two alerts raised in October: one approved 2 h after receipt (UHCW acknowledges 3 h later),
    one rejected; the approved one withdrawn on 20 October."""
    clock = Clock(datetime(2026, 10, 5, 9, 0, tzinfo=UTC))
    ctx = IntakeContext(ctx.config, ctx.mailbox, ctx.uow, clock)
    refs = []
    for _ in range(2):
        put(ctx.mailbox, samples.submission(SW, INBOX, attachments=[("f.xlsx", samples.xlsx_form(
            samples.form_fields(date(2026, 10, 5)), samples.subjects(date(2026, 10, 5))))]))
        [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
        refs.append(result.reference)
    clock.now = datetime(2026, 10, 5, 11, 0, tzinfo=UTC)
    give_decision(ctx, refs[0], 1, ApprovalRequest(True, "Dana Nightingale"))
    give_decision(ctx, refs[1], 1, ApprovalRequest(False, "Dana Nightingale", reason="Not proportionate."))
    send_alert_email(ctx, refs[0])
    clock.now = datetime(2026, 10, 5, 14, 0, tzinfo=UTC)
    put(ctx.mailbox, samples.submission(UHCW, INBOX, subject=f"RE: {refs[0]}", body="Done.\n"))
    [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    clock.now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    put(ctx.mailbox, samples.submission(SW, INBOX, subject=f"WITHDRAW {refs[0]}", body="Reason: Found\n"))
    [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    approve_withdrawal(ctx, refs[0])
    return ctx


def test_the_activity_return_counts_a_hand_worked_month(intake_ctx: IntakeContext) -> None:
    ctx = october_activity(intake_ctx)
    with ctx.uow() as u:
        activity = load_activity(u.session, ctx.config, "2026-10")
    missing = activity.by_type.set_index("Alert type").loc["Missing child"].to_dict()
    assert missing == {"Raised": 2, "Approved": 1, "Rejected": 1, "Withdrawn": 1, "Active at month end": 0,
                       "Reviews overdue at month end": 0}
    times = activity.timeliness.set_index("Interval")["Median (hours)"].to_dict()
    assert times == {"Receipt to approval": 2.0, "Receipt to dispatch": 2.0,
                     "Receipt to first acknowledgement": 5.0}
    providers = activity.by_provider.set_index("Provider")["Acknowledgement rate"].to_dict()
    assert providers == {"SWFT: South Warwickshire University NHS Foundation Trust": 0.0,
                         "UHCW: University Hospitals Coventry and Warwickshire NHS Trust": 1.0}
    assert activity.trend.iloc[-1].to_dict() == {"Month": "2026-10", "Raised": 2, "Withdrawn": 1,
                                                 "Active at month end": 0}


def fgm_month(ctx: IntakeContext, month: str = "2026-10", count: int = 40) -> None:
    data = fgm_file(ctx.config.fgm, random_month(month, count, seed=3), month=month, organisation="UHCW")
    put(ctx.mailbox, samples.submission(UHCW, INBOX, subject=f"FGM {month}",
                                        attachments=[("fgm.xlsx", data)]))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.reason == "fgm-accepted"


def test_returns_are_emailed_and_the_record_level_file_only_to_allowed_addresses(
        intake_ctx: IntakeContext, tmp_path: Path) -> None:
    ctx = october_activity(intake_ctx)
    fgm_month(ctx)
    result = produce(ctx, "2026-10", out_dir=tmp_path / "returns")
    email_returns(ctx, result)
    delivered = ctx.mailbox.deliver_to  # type: ignore[attr-defined]
    admin = [p.read_bytes() for p in (delivered / ctx.config.settings.service.admin_team / "new").iterdir()]  # type: ignore[operator]
    monthly = [m for m in admin if subject_of(m) == "Monthly returns 2026-10"]
    assert (len(monthly) == 1 and b"FGM-aggregate-2026-10.xlsx" in monthly[0]
            and b"alert-activity-2026-10.xlsx" in monthly[0])
    assert not any(b"FGM-record-level" in m for m in admin)
    nurse = [p.read_bytes() for p in (delivered / "designated.nurse@example-icb.test" / "new").iterdir()]  # type: ignore[operator]
    nurse = [m for m in nurse if b"waiting for approval" not in m]  # the nurse is also an approver
    assert ([subject_of(m) for m in nurse]
            == ["FGM record-level return 2026-10 (restricted: patient-identifiable)"])
    assert b"FGM-record-level-2026-10.xlsx" in nurse[0]


def test_a_dropped_file_is_imported_and_a_badly_named_one_refused(
        intake_ctx: IntakeContext, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    config = intake_ctx.config.model_copy(
        update={"fgm": intake_ctx.config.fgm.model_copy(update={"drop_folder": drop})})
    (drop / "UHCW_2026-10.xlsx").write_bytes(fgm_file(config.fgm, [record("9434765919", date(2026, 10, 5))],
                                                      month="", organisation=""))
    (drop / "october.xlsx").write_bytes(b"x")
    counts = import_drop_folder(intake_ctx.uow, config, datetime(2026, 11, 1, tzinfo=UTC))
    assert counts == {"imported": 1, "rejected": 1}
    assert (drop / "done" / "UHCW_2026-10.xlsx").exists()
    assert "<PROVIDER CODE>_<YYYY-MM>" in (drop / "rejected" / "october.xlsx.txt").read_text()


def test_every_workbook_opens_in_libreoffice_and_every_sheet_renders(
        intake_ctx: IntakeContext, tmp_path: Path) -> None:
    ctx = october_activity(intake_ctx)
    fgm_month(ctx)
    result = produce(ctx, "2026-10", out_dir=tmp_path / "returns")
    workbooks = list(result.files.values())
    from safeguard.adapters.returns.alert_history import export_alert_history
    with ctx.uow() as u:
        workbooks.append(export_alert_history(u.session, ctx.config, "HSA-2026-000001",
                                              tmp_path / "history.xlsx",
                                              by="test", now=datetime(2026, 11, 1, tzinfo=UTC)))
    out = tmp_path / "pdf"
    completed = subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/lo",
                                "--convert-to", "pdf", "--outdir", str(out), *map(str, workbooks)],
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr
    for book in workbooks:
        pdf = (out / book.with_suffix(".pdf").name).read_bytes()
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert (pdf.startswith(b"%PDF")
                and pages >= len(load_workbook(book, read_only=True).sheetnames)), book.name
