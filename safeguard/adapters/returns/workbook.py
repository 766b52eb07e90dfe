"""House style for every workbook we write: bold frozen headers, sensible widths, UK dates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

HEADER_FILL = PatternFill("solid", fgColor="005EB8")  # NHS blue
HEADER_FONT = Font(bold=True, color="FFFFFF")
DATE = "dd/mm/yyyy"
DATETIME = "dd/mm/yyyy hh:mm"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(cell: Any) -> Any:
    """Text from people (forms, submissions) must never become a formula in our workbooks
    (`=HYPERLINK(...)` would be live in a case-review export). openpyxl makes any string starting
    with "=" a formula; store such strings, and the other characters spreadsheet apps treat as
    formula starts, as plain text shown with a quote prefix."""
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def local(value: datetime | None, tz: str) -> datetime | None:
    """Excel has no time zones: write wall-clock time in the service's zone, without tzinfo."""
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None) if value else None


def write_table(sheet: Worksheet, headers: Sequence[str], rows: Iterable[Sequence[object]],
                widths: Sequence[int] | None = None, start_row: int = 1) -> int:
    """A header row and data rows; returns the next free row."""
    for col, title in enumerate(headers, start=1):
        cell = sheet.cell(start_row, col, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    row_no = start_row
    for row_no, row in enumerate(rows, start=start_row + 1):
        for col, value in enumerate(row, start=1):
            cell = as_text_cell(sheet.cell(row_no, col, value))
            cell.alignment = Alignment(vertical="top", wrap_text=isinstance(value, str) and len(value) > 40)
            if isinstance(value, datetime):
                cell.number_format = DATETIME
            elif isinstance(value, date):
                cell.number_format = DATE
    for col, width in enumerate(widths or [18] * len(headers), start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    if start_row == 1:
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(row_no, 1)}"
    return row_no + 1
