"""The FGM submission template providers fill in, built from config/fgm.yaml (drop-downs from the
codes), and a filled copy of it for the demo, tests and benchmarks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from safeguard.adapters.returns.workbook import Marking, set_up_printing, write_lines
from safeguard.domain.config.fgm import FgmSettings
from safeguard.domain.fgm import RECORDS_SHEET, SUBMISSION_SHEET

HEAD = PatternFill("solid", fgColor="005EB8")
TEMPLATE_ROWS = 1000


def _choices(item_type: str, codes: dict[str, str], fgm: FgmSettings) -> list[str]:
    if item_type == "country":
        return [f"{c.code} - {c.name}" for c in fgm.countries]
    return [f"{code} - {label}" for code, label in codes.items()]


def build_fgm_workbook(fgm: FgmSettings, rows: list[dict[str, Any]] | None = None, *, month: str = "",
                       organisation: str = "") -> Workbook:
    book = Workbook()
    intro = book.active
    intro.title = "Instructions"
    intro.column_dimensions["A"].width = 110
    write_lines(intro, (
            "FGM Enhanced Dataset: monthly submission", "",
            "1. On the 'Submission' sheet give your organisation code and the reporting month (YYYY-MM).",
            "2. On the 'Records' sheet enter one row per attendance where FGM was identified, treated, "
            "or a woman with FGM gave birth to a girl.",
            "3. Choose coded values from the drop-downs. Dates as DD/MM/YYYY. "
            "NHS number, or 'not available'.",
            "4. Email this file to the safeguarding mailbox with 'FGM' and the month in the subject, e.g. "
            "'FGM 2026-10'. A CSV with the same headers is also accepted.",
            "5. Sending the month again replaces what you sent before for that month.",
            "", f"Items and codes: {fgm.source_note}"))
    meta = book.create_sheet(SUBMISSION_SHEET)
    for n, (label, value) in enumerate((("Submitting organisation code", organisation),
                                        ("Reporting month (YYYY-MM)", month)), start=1):
        meta.cell(n, 1, label).font = Font(bold=True)
        meta.cell(n, 2, value)
    meta.column_dimensions["A"].width, meta.column_dimensions["B"].width = 32, 20
    sheet = book.create_sheet(RECORDS_SHEET)
    lists = book.create_sheet("Lists")
    for col, item in enumerate(fgm.items, start=1):
        cell = sheet.cell(1, col, item.label)
        cell.font, cell.fill = Font(bold=True, color="FFFFFF"), HEAD
        letter = get_column_letter(col)
        sheet.column_dimensions[letter].width = max(14, min(34, len(item.label) + 4))
        if item.type in ("code", "country"):
            values = _choices(item.type, item.codes, fgm)
            for r, value in enumerate(values, start=1):
                lists.cell(r, col, value)
            ref = f"{quote_sheetname('Lists')}!${letter}$1:${letter}${len(values)}"
            validation = DataValidation(type="list", formula1=ref, allow_blank=not item.required,
                                        error="Choose a value from the list.", errorTitle=item.label)
            validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
            sheet.add_data_validation(validation)
        if item.type == "date":
            for r in range(2, TEMPLATE_ROWS + 2) if not rows else ():
                sheet.cell(r, col).number_format = "DD/MM/YYYY"
    lists.sheet_state = "hidden"
    sheet.freeze_panes = "A2"
    for r, values in enumerate(rows or [], start=2):
        for col, item in enumerate(fgm.items, start=1):
            value = values.get(item.key)
            cell = sheet.cell(r, col, value)
            if item.type == "date" and value is not None:
                cell.number_format = "DD/MM/YYYY"
    book.active = 2
    return set_up_printing(book, title=f"FGM submission {organisation} {month}".strip(),
                           marking=Marking.OFFICIAL_SENSITIVE)


def build_fgm_template(fgm: FgmSettings, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    build_fgm_workbook(fgm).save(out)
    return out


def fgm_file(fgm: FgmSettings, rows: list[dict[str, Any]], *, month: str, organisation: str) -> bytes:
    buffer = io.BytesIO()
    build_fgm_workbook(fgm, rows, month=month, organisation=organisation).save(buffer)
    return buffer.getvalue()
