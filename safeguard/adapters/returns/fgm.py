"""The monthly FGM returns: a record-level workbook for the national platform (in the dataset's
item order, not disclosure-controlled, restricted circulation) and an aggregate workbook of the
published measures with disclosure control, a prevalence sheet, data quality and charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.orm import FgmRecord, FgmSubmission
from safeguard.adapters.returns.workbook import (
    DATE,
    FORMULA_START,
    HEADER_FILL,
    HEADER_FONT,
    as_text_cell,
    local,
    write_table,
)
from safeguard.domain.config import Config
from safeguard.domain.disclosure import NOTE, disclose
from safeguard.domain.status import FgmRecordStatus, FgmSubmissionStatus

SUBMITTER_TYPES = ("acute trust", "mental health trust", "GP practice")
AGE_BANDS = ((18, "Under 18"), (25, "18 to 24"), (35, "25 to 34"), (45, "35 to 44"), (55, "45 to 54"))
MEASURES = ("Individuals", "Newly recorded", "Total attendances")


@dataclass
class FgmMonth:
    month: str
    records: pd.DataFrame  # one row per counted attendance in the month
    submissions: list[dict[str, object]]
    trend: pd.DataFrame  # month, individuals, newly recorded, attendances (unrounded), last 12 months
    silent: list[str]  # expected submitters who sent nothing for the month


def previous_months(month: str, n: int) -> list[str]:
    year, mon = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return out[::-1]


def load_month(session: Session, config: Config, month: str) -> FgmMonth:
    rows = session.execute(select(FgmRecord.provider_code, FgmRecord.patient_key, FgmRecord.row_number,
                                  FgmRecord.data)
                           .where(FgmRecord.month == month, FgmRecord.status == FgmRecordStatus.COUNTED)
                           .order_by(FgmRecord.provider_code, FgmRecord.row_number)).all()
    records = pd.DataFrame([{**data, "provider_code": code, "patient_key": key}
                            for code, key, _n, data in rows])
    if records.empty:
        records = pd.DataFrame(columns=[i.key for i in config.fgm.items] + ["provider_code", "patient_key"])
    first_seen = dict(session.execute(select(FgmRecord.patient_key, func.min(FgmRecord.month)).where(
        FgmRecord.status == FgmRecordStatus.COUNTED, FgmRecord.month <= month)
        .group_by(FgmRecord.patient_key)).all())
    records["new"] = records["patient_key"].map(first_seen).eq(month)
    subs = session.scalars(select(FgmSubmission).where(FgmSubmission.month == month)
                           .order_by(FgmSubmission.id)).all()
    submissions = [{"provider": s.provider_code, "file": s.filename, "received": s.received_at,
                    "status": s.status,
                    "rows counted": (s.rows_valid if s.status in (FgmSubmissionStatus.ACCEPTED,
                                                                  FgmSubmissionStatus.PARTIAL) else 0),
                    "rows with errors": s.rows_with_errors} for s in subs]
    sent = {s.provider_code for s in subs if s.status != FgmSubmissionStatus.REPLACED}
    silent = [p.code for p in config.providers if p.type in SUBMITTER_TYPES and p.code not in sent]
    return FgmMonth(month, records, submissions, _trend(session, month, first_seen), silent)


def _trend(session: Session, month: str, first_seen: dict[str, str]) -> pd.DataFrame:
    months = previous_months(month, 12)
    rows = session.execute(select(FgmRecord.month, FgmRecord.patient_key).where(
        FgmRecord.status == FgmRecordStatus.COUNTED, FgmRecord.month.in_(months))).all()
    data = pd.DataFrame(rows, columns=["month", "patient_key"])
    firsts = dict(session.execute(select(FgmRecord.patient_key, func.min(FgmRecord.month)).where(
        FgmRecord.status == FgmRecordStatus.COUNTED).group_by(FgmRecord.patient_key)).all())
    out = []
    for m in months:
        seen = data[data["month"] == m]
        keys = set(seen["patient_key"])
        out.append({"month": m, "Individuals": len(keys),
                    "Newly recorded": sum(firsts.get(k) == m for k in keys),
                    "Total attendances": len(seen)})
    return pd.DataFrame(out)


def _age_band(born: str | None, contact: str | None) -> str:
    if not born or not contact:
        return "Not known"
    b, c = date.fromisoformat(born), date.fromisoformat(contact)
    years = c.year - b.year - ((c.month, c.day) < (b.month, b.day))
    return next((label for limit, label in AGE_BANDS if years < limit), "55 and over")


def breakdowns(fm: FgmMonth, config: Config) -> dict[str, pd.DataFrame]:
    """Each published breakdown: category, Individuals, Newly recorded, Total attendances (unrounded),
    with a Total row computed from the records (not by adding the rows)."""
    fgm, df = config.fgm, fm.records.copy()

    def labels(key: str) -> pd.Series:
        item = fgm.item(key)
        codes = item.codes if item else {}
        return df[key].map(lambda v: codes.get(v, "Not known") if v else "Not known") if key in df else \
            pd.Series("Not known", index=df.index)

    names = {p.code: f"{p.code}: {p.name}" for p in config.providers}
    df["FGM type"] = labels("fgm_type")
    df["Type 4 qualifier"] = labels("type4_qualifier").where(df["fgm_type"].eq("4"), None) \
        if "fgm_type" in df else None
    df["Age at attendance"] = [_age_band(b, c) for b, c in zip(df.get("date_of_birth", []),
                                                              df.get("care_contact_date", []), strict=False)]
    df["Age when FGM was undertaken"] = labels("age_fgm_undertaken")
    df["Country of birth (region)"] = df.get("country_of_birth", pd.Series(dtype=object)).map(fgm.region_of)
    df["How FGM was identified"] = labels("identification_method")
    df["Referral organisation type"] = labels("referral_org_type")
    df["Submitting organisation"] = df["provider_code"].map(lambda c: names.get(c, c))
    df["Treatment function"] = labels("treatment_function")
    df["Deinfibulation undertaken"] = labels("deinfibulation")
    out = {}
    for name in ("FGM type", "Type 4 qualifier", "Age at attendance", "Age when FGM was undertaken",
                 "Country of birth (region)", "How FGM was identified", "Referral organisation type",
                 "Submitting organisation", "Treatment function", "Deinfibulation undertaken"):
        part = df[df[name].notna()] if name in df else df.iloc[0:0]
        total = pd.DataFrame([{name: "Total", "Individuals": part["patient_key"].nunique(),
                               "Newly recorded": part.loc[part["new"].astype(bool), "patient_key"].nunique(),
                               "Total attendances": len(part)}])
        table = _measure(part, name)
        out[name] = pd.concat([table, total], ignore_index=True) if len(table) else total
    return out


def _measure(df: pd.DataFrame, by: str) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=[by, *MEASURES])
    grouped = df.groupby(by, sort=True)
    return pd.DataFrame({
        by: list(grouped.groups),
        "Individuals": grouped["patient_key"].nunique().to_list(),
        "Newly recorded": grouped.apply(lambda g: g.loc[g["new"], "patient_key"].nunique(),
                                        include_groups=False).to_list(),
        "Total attendances": grouped.size().to_list(),
    })


def headline(fm: FgmMonth) -> dict[str, int]:
    """Unrounded: individuals, newly recorded, attendances, active cases (seen before, seen again)."""
    df = fm.records
    individuals = df["patient_key"].nunique()
    newly = df.loc[df["new"], "patient_key"].nunique() if len(df) else 0
    return {"Individuals": int(individuals), "Newly recorded": int(newly), "Total attendances": int(len(df)),
            "Active cases": int(individuals - newly)}


# ----------------------------------------------------------------------------------- workbooks
def _cover(book: Workbook, title: str, fm: FgmMonth, config: Config, produced: datetime,
           extra: list[str]) -> None:
    sheet = book.active
    sheet.title = "Cover"
    tz = config.settings.service.timezone
    lines = [title, "", f"Reporting month: {fm.month}", f"Produced: {local(produced, tz):%d/%m/%Y %H:%M}",
             f"Produced by: {config.settings.service.name}", f"Data items: {config.fgm.source_note}", *extra,
             "", "Source files:"]
    for n, line in enumerate(lines, start=1):
        sheet.cell(n, 1, line).font = Font(bold=n == 1, size=14 if n == 1 else 11)
    write_table(sheet, ["Provider", "File", "Received", "Status", "Rows counted", "Rows with errors"],
                [[s["provider"], s["file"], local(s["received"], tz), s["status"], s["rows counted"],  # type: ignore[arg-type]
                  s["rows with errors"]] for s in fm.submissions],
                widths=[44, 34, 17, 12, 14, 16], start_row=len(lines) + 1)


def write_aggregate(fm: FgmMonth, config: Config, out: Path, produced: datetime) -> Path:
    book = Workbook()
    _cover(book, f"FGM Enhanced Dataset: published measures, {fm.month}", fm, config, produced, [NOTE])
    head = headline(fm)
    summary = book.create_sheet("Summary")
    next_row = write_table(summary, ["Measure", "Count (rounded)"],
                           [[k, disclose(v)] for k, v in head.items() if k != "Active cases"],
                           widths=[28, 18])
    summary.cell(next_row + 1, 1, NOTE)
    trend_start = next_row + 3
    write_table(summary, ["Month", *MEASURES], [[r["month"], *(disclose(int(r[m])) for m in MEASURES)]
                                                for r in fm.trend.to_dict("records")],
                widths=[28, 18, 18, 18], start_row=trend_start)
    chart = LineChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = (
        "Newly recorded by month (rounded)", "Individuals", "Month")
    chart.add_data(Reference(summary, min_col=3, min_row=trend_start, max_row=trend_start + len(fm.trend)),
                   titles_from_data=True)
    chart.set_categories(Reference(summary, min_col=1, min_row=trend_start + 1,
                                   max_row=trend_start + len(fm.trend)))
    chart.width, chart.height = 18, 8
    summary.add_chart(chart, "F2")
    prevalence = book.create_sheet("Prevalence")
    write_table(prevalence, ["Measure", "Count (rounded)", "Meaning"], [
        ["Newly identified this month", disclose(head["Newly recorded"]),
         "patients with FGM first recorded in the reporting month"],
        ["Active cases", disclose(head["Active cases"]),
         "identified before the month and seen again in it (excluding the newly identified)"]],
        widths=[30, 18, 80])
    prevalence.cell(5, 1, NOTE)
    for n, (name, table) in enumerate(breakdowns(fm, config).items(), start=1):
        sheet = book.create_sheet(f"Table {n}"[:31])
        sheet.cell(1, 1, f"Table {n}: {name}, {fm.month}").font = Font(bold=True, size=13)
        sheet.cell(2, 1, NOTE)
        rows = [[r[name], *(disclose(int(r[m])) for m in MEASURES)] for r in table.to_dict("records")]
        last = write_table(sheet, [name, *MEASURES], rows, widths=[46, 16, 16, 18], start_row=4)
        sheet.freeze_panes = "A5"
        for cell in sheet[last - 1]:
            cell.font = Font(bold=True)
        if name == "FGM type" and len(rows) > 1:
            bar = BarChart()
            bar.type, bar.title = "bar", "Attendances by FGM type (rounded)"
            bar.add_data(Reference(sheet, min_col=4, min_row=4, max_row=last - 2), titles_from_data=True)
            bar.set_categories(Reference(sheet, min_col=1, min_row=5, max_row=last - 2))
            bar.width, bar.height = 18, 9
            sheet.add_chart(bar, "G4")
    _data_quality(book, fm, config)
    save_private(book, out)
    return out


def _data_quality(book: Workbook, fm: FgmMonth, config: Config) -> None:
    sheet = book.create_sheet("Data quality")
    df = fm.records
    providers = sorted(df["provider_code"].unique()) if len(df) else []
    rows = []
    for item in config.fgm.items:
        row: list[object] = [item.label, "required" if item.required else "optional"]
        for code in providers:
            values = (df.loc[df["provider_code"] == code, item.key] if item.key in df
                      else pd.Series(dtype=object))
            row.append(float(values.notna().mean()) if len(values) else None)
        rows.append(row)
    last = write_table(sheet, ["Item", "Required?", *[f"{p} completeness" for p in providers]], rows,
                       widths=[40, 12, *[18] * len(providers)])
    for line in sheet.iter_rows(min_row=2, max_row=last - 1, min_col=3):
        for cell in line:
            cell.number_format = "0%"
    sheet.cell(last + 1, 1, "Expected submitters who sent nothing for the month:").font = Font(bold=True)
    names = {p.code: p.name for p in config.providers}
    for n, code in enumerate(fm.silent or ["(none)"], start=last + 2):
        sheet.cell(n, 1, f"{code}: {names.get(code, '')}" if code in names else code)
    errors_at = last + 3 + max(1, len(fm.silent))
    sheet.cell(errors_at, 1, "Rows with errors, not counted (per submission):").font = Font(bold=True)
    for n, s in enumerate(fm.submissions, start=errors_at + 1):
        as_text_cell(sheet.cell(n, 1, f"{s['provider']} {s['file']} ({s['status']})"))
        sheet.cell(n, 2, s["rows with errors"])


def write_record_level(fm: FgmMonth, config: Config, out: Path, produced: datetime) -> Path:
    """Write-only (streaming) workbook: one row per attendance, items in dataset order."""
    book = Workbook(write_only=True)
    cover = book.create_sheet("Cover")
    tz = config.settings.service.timezone
    for line in (f"FGM Enhanced Dataset: record-level return, {fm.month}",
                 "OFFICIAL-SENSITIVE: patient-identifiable. For upload to the national platform only; not "
                 "disclosure-controlled.", f"Produced: {local(produced, tz):%d/%m/%Y %H:%M}",
                 f"Data items: {config.fgm.source_note}", f"Records: {len(fm.records)}",
                 "Source files: " + "; ".join(f"{s['provider']} {s['file']} ({s['status']})"
                                              for s in fm.submissions)):
        cover.append([line])
    sheet = book.create_sheet("Records")
    sheet.freeze_panes = "A2"
    items = config.fgm.items
    header = []
    for title in ["Submitting organisation", "Reporting month", *[i.label for i in items]]:
        cell = WriteOnlyCell(sheet, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        header.append(cell)
    sheet.append(header)
    date_keys = {i.key for i in items if i.type == "date"}
    keys = [i.key for i in items]
    for record in fm.records.to_dict("records"):
        row: list[object] = [record["provider_code"], fm.month]
        for key in keys:
            value = record.get(key)
            if key in date_keys and value:
                cell = WriteOnlyCell(sheet, date.fromisoformat(value))
                cell.number_format = DATE
                row.append(cell)
            elif isinstance(value, str) and value.startswith(FORMULA_START):
                row.append(as_text_cell(WriteOnlyCell(sheet, value)))
            else:
                row.append(None if value is None or value != value else value)  # NaN -> blank
        sheet.append(row)
    save_private(book, out)
    return out
