"""The monthly FGM returns: a record-level workbook for the national platform (in the dataset's
item order, not disclosure-controlled, restricted circulation) and an aggregate workbook of the
published measures with disclosure control, a prevalence sheet, data quality and charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.orm import FgmRecord, FgmSubmission
from safeguard.adapters.returns.workbook import (
    DATE,
    FORMULA_START,
    HEADER_FILL,
    HEADER_FONT,
    Marking,
    as_text_cell,
    local,
    set_up_page,
    set_up_printing,
    wrapped_lines,
    write_lines,
    write_table,
)
from safeguard.domain.config import Config
from safeguard.domain.config.fgm import FgmItem, FgmSettings
from safeguard.domain.disclosure import NOTE, disclose
from safeguard.domain.fgm_rules import scope_rules
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
    # counted records of the months before, as far back as config/fgm.yaml's attendance list looks
    earlier: pd.DataFrame = field(default_factory=pd.DataFrame)


def previous_months(month: str, n: int) -> list[str]:
    year, mon = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return out[::-1]


def _counted(session: Session, config: Config, months: list[str]) -> pd.DataFrame:
    rows = session.execute(select(FgmRecord.provider_code, FgmRecord.patient_key, FgmRecord.row_number,
                                  FgmRecord.data)
                           .where(FgmRecord.month.in_(months), FgmRecord.status == FgmRecordStatus.COUNTED)
                           .order_by(FgmRecord.provider_code, FgmRecord.row_number)).all()
    records = pd.DataFrame([{**data, "provider_code": code, "patient_key": key}
                            for code, key, _n, data in rows])
    if records.empty:
        records = pd.DataFrame(columns=[i.key for i in config.fgm.items] + ["provider_code", "patient_key"])
    return records


def load_month(session: Session, config: Config, month: str) -> FgmMonth:
    records = _counted(session, config, [month])
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
    looking = config.fgm.attendance_list  # the months before, for the attendance list only
    earlier = (_counted(session, config, previous_months(month, looking.months)[:-1]) if looking
               else pd.DataFrame())
    return FgmMonth(month, records, submissions, _trend(session, month, first_seen), silent, earlier)


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
    if not isinstance(born, str) or not isinstance(contact, str) or not born or not contact:
        return "Not known"
    years = age_on(date.fromisoformat(born), date.fromisoformat(contact))
    return next((label for limit, label in AGE_BANDS if years < limit), "55 and over")


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _column(df: pd.DataFrame, key: str | None) -> pd.Series:
    return df[key] if key and key in df else pd.Series(None, index=df.index, dtype=object)


def _categories(df: pd.DataFrame, item: FgmItem, fgm: FgmSettings) -> pd.Series:
    """Each record's category in the item's breakdown, as config/fgm.yaml groups it."""
    values, group = _column(df, item.key), item.breakdown.group if item.breakdown else "code"
    if group == "age_band":
        contact = _column(df, fgm.key_for("contact_date"))
        return pd.Series([_age_band(b, c) for b, c in zip(values, contact, strict=True)], index=df.index,
                         dtype=object)
    if group == "region":
        return values.map(lambda v: fgm.region_of(v) if isinstance(v, str) else "Not known")
    if group == "area":
        areas = fgm.areas
        return values.map(lambda v: areas.area_of(v) if areas and isinstance(v, str) else "Not known")
    names = item.codes or {c.code: c.name for c in fgm.countries}
    return values.map(lambda v: names.get(v, "Not known") if isinstance(v, str) else "Not known")


def _in_scope(df: pd.DataFrame, item: FgmItem) -> pd.Series:
    """The records the item's breakdown counts: those meeting its rules that have no `when`."""
    mask = pd.Series(True, index=df.index)
    for rule in scope_rules(item):
        mask &= _column(df, rule.item).isin(rule.in_)
    return mask


def _by_submitter(df: pd.DataFrame, by: str, config: Config) -> pd.Series:
    providers = {p.code: p for p in config.providers}
    if by == "organisation":
        return df["provider_code"].map(lambda c: f"{c}: {providers[c].name}" if c in providers else c)
    return df["provider_code"].map(lambda c: providers[c].type.capitalize() if c in providers
                                   else "Not in the directory")


def breakdowns(fm: FgmMonth, config: Config) -> dict[str, pd.DataFrame]:
    """Each published breakdown: category, Individuals, Newly recorded, Total attendances (unrounded),
    with a Total row computed from the records (not by adding the rows)."""
    fgm, df = config.fgm, fm.records
    base = df[["patient_key", "new"]]
    parts: list[tuple[str, pd.DataFrame]] = []
    for item in fgm.items:
        if item.breakdown:
            part = df[_in_scope(df, item)]
            categories = _categories(part, item, fgm)
            parts.append((item.table, base.loc[part.index].assign(**{item.table: categories})))
    for extra in fgm.submitter_breakdowns:
        parts.append((extra.title, base.assign(**{extra.title: _by_submitter(df, extra.by, config)})))
    out = {}
    for name, part in parts:
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
        "Newly recorded": grouped.apply(lambda g: g.loc[g["new"].astype(bool), "patient_key"].nunique(),
                                        include_groups=False).to_list(),
        "Total attendances": grouped.size().to_list(),
    })


def attendance_list(fm: FgmMonth, config: Config) -> pd.DataFrame:
    """config/fgm.yaml's attendance list (seed 002, 13.3): each child (under `under_age` at the last
    attendance, or of unknown age) with `threshold` or more attendances at the listed settings in the
    reporting month and the `months` - 1 before it. Identifiers: only for the record-level workbook."""
    fgm, spec = config.fgm, config.fgm.attendance_list
    who = [i for i in (fgm.item(fgm.key_for(r) or "") for r in ("patient_number", "birth_date", "residence"))
           if i is not None]
    columns = [i.label for i in who] + ["Attendances", "First", "Last", "Submitted by"]
    if spec is None:
        return pd.DataFrame(columns=columns)
    df = pd.concat([fm.earlier, fm.records], ignore_index=True) if len(fm.earlier) else fm.records
    counted = pd.Series(False, index=df.index)
    for rule in spec.settings:
        counted |= _column(df, rule.item).isin(rule.in_)
    contact, born = fgm.key_for("contact_date"), fgm.key_for("birth_date")
    rows = []
    for _key, visits in df[counted].groupby("patient_key", sort=False):
        if len(visits) < spec.threshold:
            continue
        visits = visits.sort_values(contact)
        last = visits.iloc[-1]
        birth = _column(visits, born).iloc[-1]
        if isinstance(birth, str) and age_on(date.fromisoformat(birth), date.fromisoformat(last[contact])) \
                >= spec.under_age:
            continue
        rows.append([*(last.get(i.key) for i in who), len(visits),
                     date.fromisoformat(visits.iloc[0][contact]), date.fromisoformat(last[contact]),
                     ", ".join(sorted(set(visits["provider_code"])))])
    rows.sort(key=lambda r: (-r[len(who)], r[len(who) + 2]))
    return pd.DataFrame(rows, columns=columns)


def headline(fm: FgmMonth) -> dict[str, int]:
    """Unrounded: individuals, newly recorded, attendances, active cases (seen before, seen again)."""
    df = fm.records
    individuals = df["patient_key"].nunique()
    newly = df.loc[df["new"], "patient_key"].nunique() if len(df) else 0
    return {"Individuals": int(individuals), "Newly recorded": int(newly), "Total attendances": int(len(df)),
            "Active cases": int(individuals - newly)}


# ----------------------------------------------------------------------------------- workbooks
COVER_COLUMNS = 6


def _cover(book: Workbook, title: str, fm: FgmMonth, config: Config, produced: datetime,
           extra: list[str]) -> None:
    sheet = book.active
    sheet.title = "Cover"
    tz = config.settings.service.timezone
    for col, width in enumerate([44, 34, 17, 12, 14, 16], start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    lines = [title, "", f"Reporting month: {fm.month}", f"Produced: {local(produced, tz):%d/%m/%Y %H:%M}",
             f"Produced by: {config.settings.service.name}", f"Data items: {config.fgm.source_note}", *extra,
             "", "Source files:"]
    next_row = write_lines(sheet, lines, columns=COVER_COLUMNS)
    write_table(sheet, ["Provider", "File", "Received", "Status", "Rows counted", "Rows with errors"],
                [[s["provider"], s["file"], local(s["received"], tz), s["status"], s["rows counted"],  # type: ignore[arg-type]
                  s["rows with errors"]] for s in fm.submissions],
                widths=[44, 34, 17, 12, 14, 16], start_row=next_row)


def write_aggregate(fm: FgmMonth, config: Config, out: Path, produced: datetime) -> Path:
    book = Workbook()
    _cover(book, f"FGM Enhanced Dataset: published measures, {fm.month}", fm, config, produced, [NOTE])
    head = headline(fm)
    summary = book.create_sheet("Summary")
    next_row = write_table(summary, ["Measure", "Count (rounded)"],
                           [[k, disclose(v)] for k, v in head.items() if k != "Active cases"],
                           widths=[28, 18])
    write_lines(summary, [NOTE], columns=4, start_row=next_row + 1, title_size=0)
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
    write_lines(prevalence, [NOTE], columns=3, start_row=5, title_size=0)
    charted = {i.table for i in config.fgm.items if i.breakdown and i.breakdown.chart}
    for n, (name, table) in enumerate(breakdowns(fm, config).items(), start=1):
        _breakdown_sheet(book.create_sheet(f"Table {n}"[:31]), f"Table {n}: {name}, {fm.month}", name, table,
                         chart=name in charted)
    _data_quality(book, fm, config)
    set_up_printing(book, title=f"FGM aggregate return {fm.month}", marking=Marking.OFFICIAL)
    save_private(book, out)
    return out


def _breakdown_sheet(sheet: Worksheet, heading: str, name: str, table: pd.DataFrame, *, chart: bool) -> None:
    sheet.column_dimensions["A"].width = 46
    write_lines(sheet, [heading], columns=4, title_size=13)
    write_lines(sheet, [NOTE], columns=4, start_row=2, title_size=0)
    rows = [[r[name], *(disclose(int(r[m])) for m in MEASURES)] for r in table.to_dict("records")]
    last = write_table(sheet, [name, *MEASURES], rows, widths=[46, 16, 16, 18], start_row=4)
    sheet.freeze_panes = "A5"
    for cell in sheet[last - 1]:
        cell.font = Font(bold=True)
    if chart and len(rows) > 1:
        bar = BarChart()
        bar.type, bar.title = "bar", f"Attendances by {name} (rounded)"
        bar.add_data(Reference(sheet, min_col=4, min_row=4, max_row=last - 2), titles_from_data=True)
        bar.set_categories(Reference(sheet, min_col=1, min_row=5, max_row=last - 2))
        bar.width, bar.height = 18, 9
        sheet.add_chart(bar, "G4")


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


ATTENDANCE_SHEET = "Attendance list"


def write_record_level(fm: FgmMonth, config: Config, out: Path, produced: datetime) -> Path:
    """Write-only (streaming) workbook: one row per attendance, items in dataset order, then the
    attendance list (identifiers: it goes only where this workbook goes)."""
    book = Workbook(write_only=True)
    title = f"FGM record-level return {fm.month}"
    tz = config.settings.service.timezone
    listed = attendance_list(fm, config)
    cover_lines = [f"FGM Enhanced Dataset: record-level return, {fm.month}",
                   "OFFICIAL-SENSITIVE: patient-identifiable. For upload to the national platform only; not "
                   "disclosure-controlled.", f"Produced: {local(produced, tz):%d/%m/%Y %H:%M}",
                   f"Data items: {config.fgm.source_note}", f"Records: {len(fm.records)}",
                   "Source files: " + "; ".join(f"{s['provider']} {s['file']} ({s['status']})"
                                                for s in fm.submissions)]
    if config.fgm.attendance_list:
        cover_lines.append(f"{ATTENDANCE_SHEET}: {config.fgm.attendance_list.title}: {len(listed)} "
                           "children (for the records review; not for upload).")
    cover = book.create_sheet("Cover")
    cover.column_dimensions["A"].width = 110
    set_up_page(cover, title=title, marking=Marking.OFFICIAL_SENSITIVE, header_rows=0, columns=1,
                rows=len(cover_lines), width=110)
    for line in cover_lines:
        cell = WriteOnlyCell(cover, line)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cover.append([cell])
    _records_sheet(book, fm, config, title)
    if config.fgm.attendance_list:
        _attendance_sheet(book, listed, config, title)
    save_private(book, out)
    return out


def _header_cells(sheet: Any, titles: list[str], widths: list[float], row: int) -> list[WriteOnlyCell]:
    """A write-only sheet's header row, as tall as its most wrapped title (call before appending it)."""
    lines = max(wrapped_lines(text, width) for text, width in zip(titles, widths, strict=True))
    sheet.row_dimensions[row].height = 15 * lines
    cells = []
    for title in titles:
        cell = WriteOnlyCell(sheet, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="top", wrap_text=True)
        cells.append(cell)
    return cells


def _records_sheet(book: Workbook, fm: FgmMonth, config: Config, title: str) -> None:
    sheet = book.create_sheet("Records")
    sheet.freeze_panes = "A2"
    items = config.fgm.items
    titles = ["Submitting organisation", "Reporting month", *[i.label for i in items]]
    widths = [float(max(12, min(24, len(text) // 2 + 4))) for text in titles]
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    set_up_page(sheet, title=title, marking=Marking.OFFICIAL_SENSITIVE, header_rows=1, columns=len(titles),
                rows=len(fm.records) + 1, width=sum(widths))
    sheet.append(_header_cells(sheet, titles, widths, 1))
    date_keys = {i.key for i in items if i.type == "date"}
    keys = [i.key for i in items]
    for record in fm.records.to_dict("records"):
        row: list[object] = [record["provider_code"], fm.month]
        row += [_cell(sheet, record.get(key), key in date_keys) for key in keys]
        sheet.append(row)


def _cell(sheet: Any, value: object, is_date: bool) -> object:
    if is_date and isinstance(value, str) and value:
        cell = WriteOnlyCell(sheet, date.fromisoformat(value))
        cell.number_format = DATE
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = DATE
        return cell
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return as_text_cell(WriteOnlyCell(sheet, value))
    return None if value is None or value != value else value  # NaN -> blank


def _attendance_sheet(book: Workbook, listed: pd.DataFrame, config: Config, title: str) -> None:
    spec = config.fgm.attendance_list
    assert spec is not None
    sheet = book.create_sheet(ATTENDANCE_SHEET)
    sheet.freeze_panes = "A4"
    widths = [18.0] * (len(listed.columns) - 1) + [30.0]
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    set_up_page(sheet, title=title, marking=Marking.OFFICIAL_SENSITIVE, header_rows=3,
                columns=len(widths), rows=max(len(listed), 1) + 3, width=sum(widths))
    sheet.append([WriteOnlyCell(sheet, spec.title)])
    sheet.append([f"{spec.threshold} or more attendances in {spec.months} months, under {spec.under_age} at "
                  "the last. Review each child's records (seed 002, 13.3)."])
    sheet.append(_header_cells(sheet, list(listed.columns), widths, 3))
    dates = {i.label for i in config.fgm.items if i.type == "date"} | {"First", "Last"}
    for record in listed.to_dict("records"):
        sheet.append([_cell(sheet, record[c], c in dates) for c in listed.columns])
    if listed.empty:
        sheet.append(["(none this month)"])
