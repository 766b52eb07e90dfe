"""House style for every workbook we write: bold frozen headers, sensible widths, UK dates, and
pages that print as a person expects (`set_up_printing`, one call before saving; `set_up_page` for
a write-only sheet, before its first row): A4, one page wide, landscape where wide, header rows
repeated, the print area set, a header with the sheet's name and the protective marking, and a
footer with the document's title (keep it short: a third of the page), page X of Y and the marking
(OFFICIAL-SENSITIVE where the workbook holds personal data, or is made to).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.properties import PageSetupProperties
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
    """A header row and data rows; returns the next free row. Text wider than its column wraps."""
    widths_of = list(widths or [18] * len(headers))
    for col, title in enumerate(headers, start=1):
        cell = sheet.cell(start_row, col, title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    row_no = start_row
    for row_no, row in enumerate(rows, start=start_row + 1):
        for col, value in enumerate(row, start=1):
            cell = as_text_cell(sheet.cell(row_no, col, value))
            room = widths_of[col - 1] if col <= len(widths_of) else 18
            cell.alignment = Alignment(vertical="top", wrap_text=isinstance(value, str) and len(value) > room)
            if isinstance(value, datetime):
                cell.number_format = DATETIME
            elif isinstance(value, date):
                cell.number_format = DATE
    for col, width in enumerate(widths_of, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    for row in range(start_row, row_no + 1):
        _fit_height(sheet, row, len(headers))
    if start_row == 1:
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(row_no, 1)}"
    return row_no + 1


class Marking(StrEnum):
    """The protective marking printed on every page."""

    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE"  # anything holding personal data, or made to hold it


DEFAULT_WIDTH = 8.43  # the width of a column none is set for, in characters
LANDSCAPE_OVER = 90.0  # characters of columns wider than an A4 portrait page holds
_CM_PER_CHARACTER = 0.19  # one character of column width, printed
_CM_PER_ROW = 0.53  # a default row (15 points)


def set_up_printing(book: Workbook, *, title: str, marking: Marking,
                    header_rows: Mapping[str, int] | None = None) -> Workbook:
    """Every visible sheet of an ordinary (not write-only) workbook, just before it is saved. The rows
    repeated on each page are those frozen at the top, unless `header_rows` names a sheet's."""
    for sheet in book.worksheets:
        if sheet.sheet_state != "visible":
            continue
        columns, rows = _used_range(sheet)
        repeated = (header_rows or {}).get(sheet.title, _frozen_rows(sheet))
        set_up_page(sheet, title=title, marking=marking, header_rows=repeated, columns=columns, rows=rows,
                    width=sum(_width(sheet, c) for c in range(1, columns + 1)))
    return book


def set_up_page(sheet: Any, *, title: str, marking: Marking, header_rows: int, columns: int, rows: int,
                width: float | None = None) -> None:
    """One sheet's page setup. For a write-only sheet call it before the first row is appended
    (the fit-to-page flag is written with the sheet's first row)."""
    wide = (width if width is not None else DEFAULT_WIDTH * columns) > LANDSCAPE_OVER
    setup = sheet.page_setup
    setup.orientation = "landscape" if wide else "portrait"
    setup.paperSize = 9  # A4
    setup.fitToWidth, setup.fitToHeight = 1, 0  # one page wide, as many pages long as it takes
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_options.gridLines = False
    if header_rows:
        sheet.print_title_rows = f"1:{header_rows}"
    sheet.print_area = f"A1:{get_column_letter(max(columns, 1))}{max(rows, 1)}"
    plain = title.replace("&", "&&")
    sheet.oddHeader.left.text = "&A"  # the sheet's name
    sheet.oddHeader.center.text = marking.value
    sheet.oddFooter.left.text = plain
    sheet.oddFooter.center.text = "Page &P of &N"
    sheet.oddFooter.right.text = marking.value
    for part in (sheet.oddHeader.left, sheet.oddHeader.center, sheet.oddFooter.left, sheet.oddFooter.center,
                 sheet.oddFooter.right):
        part.size = 8
    sheet.oddHeader.center.font = sheet.oddFooter.right.font = "Arial,Bold"


def wrapped_lines(text: str, width: float) -> int:
    """About how many lines `text` takes wrapped in a column `width` characters wide."""
    return sum(max(1, math.ceil(len(part) * 1.1 / max(width - 1, 1.0))) for part in text.split("\n"))


def _fit_height(sheet: Worksheet, row: int, columns: int) -> None:
    """Spreadsheet apps do not always grow a row for wrapped text when they open a file: set it."""
    lines = max((wrapped_lines(cell.value, _width(sheet, cell.column))
                 for cell in sheet[row][:columns]
                 if isinstance(cell.value, str) and cell.alignment and cell.alignment.wrap_text), default=1)
    if lines > 1:
        sheet.row_dimensions[row].height = 15 * lines


def _frozen_rows(sheet: Worksheet) -> int:
    if not sheet.freeze_panes:
        return 0
    return coordinate_from_string(sheet.freeze_panes)[1] - 1


def _width(sheet: Worksheet, column: int) -> float:
    dimension = sheet.column_dimensions.get(get_column_letter(column))
    return float(dimension.width) if dimension is not None and dimension.width else DEFAULT_WIDTH


def _used_range(sheet: Worksheet) -> tuple[int, int]:
    """(columns, rows) holding cells or charts: a chart beside a table is part of what prints."""
    columns, rows = sheet.max_column, sheet.max_row
    for chart in sheet._charts:
        anchor = chart.anchor if isinstance(chart.anchor, str) else "A1"
        letters, row = coordinate_from_string(anchor)
        column, covered = column_index_from_string(letters), 0.0
        while covered < chart.width / _CM_PER_CHARACTER:
            covered += _width(sheet, column)
            column += 1
        columns = max(columns, column - 1)
        rows = max(rows, row + math.ceil(chart.height / _CM_PER_ROW))
    return columns, rows


def write_lines(sheet: Worksheet, lines: Sequence[str], *, columns: int = 1, start_row: int = 1,
                title_size: int = 14) -> int:
    """Lines of text (a cover, instructions, a note) that stay inside the printed page: each wraps
    across the first `columns` columns, its row as tall as the wrapped text. The first line is the
    title when `title_size`. Returns the next free row."""
    span = sum(_width(sheet, c) for c in range(1, columns + 1))
    for row, line in enumerate(lines, start=start_row):
        cell = sheet.cell(row, 1, line)
        first = row == start_row and bool(title_size)
        cell.font = Font(bold=first, size=title_size if first else 11)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if columns > 1:
            sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=columns)
        wrapped = wrapped_lines(line, span / 1.2 if first else span)
        sheet.row_dimensions[row].height = (title_size + 6 if first else 15) * wrapped
    return start_row + len(lines)
