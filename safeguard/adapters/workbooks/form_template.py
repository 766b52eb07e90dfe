"""Build the health alert form template (.xlsx) from the contract in contract.py.

Sheets: Instructions; Form (locked labels, drop-downs, date cells, the subjects table);
Lists (the values behind the drop-downs, hidden). `safeguard template form OUT.xlsx` writes it.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from safeguard.adapters.returns.workbook import Marking, set_up_printing, write_lines
from safeguard.domain.forms.contract import MAX_SUBJECTS, SECTIONS, SUBJECT_FIELDS, FieldSpec, Kind

_HEAD = PatternFill("solid", fgColor="005EB8")  # NHS blue
_LABEL = PatternFill("solid", fgColor="E8EDEE")
_ENTRY = PatternFill("solid", fgColor="FFFFFF")
_DATE_FORMAT = "DD/MM/YYYY"
INSTRUCTIONS = (
    "Health alert form",
    "",
    "1. Fill in the white cells on the 'Form' sheet. Grey cells are labels and cannot be changed.",
    "2. Choose from the drop-down lists where a cell offers one.",
    "3. Enter dates as DD/MM/YYYY.",
    "4. Give one row per person in the subjects table (at most 6).",
    "5. 'Providers to alert': codes from the agreed directory, separated by commas.",
    "6. Email the completed form, as an attachment, to the safeguarding mailbox.",
    "   You will get a reply within minutes with the alert reference, or a list of anything to fix.",
    "7. To withdraw an alert later, email the mailbox with the subject: WITHDRAW <reference>",
    "   and a line 'Reason: Found', 'Resolved' or 'Baby born'.",
    "",
    "Do not add macros or passwords to this file: such files cannot be accepted.",
)


def build_form_template(out: Path) -> Path:
    book = Workbook()
    _instructions(book.active)
    lists = book.create_sheet("Lists")
    form = book.create_sheet("Form", 1)
    row = _sections(form, lists)
    _subjects_table(form, lists, row + 1)
    lists.sheet_state = "hidden"
    form.protection.sheet = True
    form.protection.formatRows = False
    form.protection.formatColumns = False
    book.active = 1
    out.parent.mkdir(parents=True, exist_ok=True)
    set_up_printing(book, title="Health alert form", marking=Marking.OFFICIAL_SENSITIVE)
    book.save(out)
    return out


def _instructions(sheet: Worksheet) -> None:
    sheet.title = "Instructions"
    sheet.column_dimensions["A"].width = 100
    write_lines(sheet, INSTRUCTIONS, title_size=16)
    sheet["A1"].font = Font(bold=True, size=16, color="005EB8")


def _sections(form: Worksheet, lists: Worksheet) -> int:
    form.column_dimensions["A"].width = 36
    form.column_dimensions["B"].width = 60
    form.freeze_panes = "A2"
    row = 0
    for section in SECTIONS:
        row += 1
        _heading(form, row, section.title, width=2)
        for spec in section.fields:
            row += 1
            label = form.cell(row, 1, spec.label)
            label.fill, label.font = _LABEL, Font(bold=spec.required)
            entry = form.cell(row, 2)
            _entry_cell(form, lists, entry.coordinate, spec)
    return row + 1


def _subjects_table(form: Worksheet, lists: Worksheet, row: int) -> None:
    _heading(form, row, "B. Subjects (one row per person, at most 6)", width=len(SUBJECT_FIELDS))
    for col, spec in enumerate(SUBJECT_FIELDS, start=1):
        head = form.cell(row + 1, col, spec.label)
        head.fill, head.font = _LABEL, Font(bold=spec.required)
        head.alignment = Alignment(wrap_text=True, vertical="top")
        if col > 2:
            form.column_dimensions[get_column_letter(col)].width = 18
        for r in range(row + 2, row + 2 + MAX_SUBJECTS):
            _entry_cell(form, lists, form.cell(r, col).coordinate, spec)


def _heading(form: Worksheet, row: int, title: str, width: int) -> None:
    for col in range(1, width + 1):
        form.cell(row, col).fill = _HEAD
    cell = form.cell(row, 1, title)
    cell.font = Font(bold=True, color="FFFFFF")


def _entry_cell(form: Worksheet, lists: Worksheet, ref: str, spec: FieldSpec) -> None:
    cell = form[ref]
    cell.fill = _ENTRY
    cell.protection = Protection(locked=False)
    cell.alignment = Alignment(wrap_text=spec.kind == Kind.TEXT, vertical="top")
    if spec.kind == Kind.DATE:
        cell.number_format = _DATE_FORMAT
        _validate(form, ref, DataValidation(type="date", operator="greaterThan", formula1="1",
                                            error="Enter a date as DD/MM/YYYY.", errorTitle=spec.label))
    elif spec.choices:
        _validate(form, ref, DataValidation(type="list", formula1=_list_range(lists, spec),
                                            error="Choose a value from the list.", errorTitle=spec.label))
    elif spec.kind == Kind.TEXT:
        _validate(form, ref, DataValidation(type="textLength", operator="lessThanOrEqual",
                                            formula1=str(spec.max_length), errorTitle=spec.label,
                                            error=f"At most {spec.max_length} characters."))


def _validate(form: Worksheet, ref: str, rule: DataValidation) -> None:
    key = (rule.type, rule.formula1)
    existing = next((dv for dv in form.data_validations.dataValidation if (dv.type, dv.formula1) == key),
                    None)
    if existing is None:
        rule.showErrorMessage = True
        form.add_data_validation(rule)
        existing = rule
    existing.add(ref)


def _list_range(lists: Worksheet, spec: FieldSpec) -> str:
    header = [c.value for c in lists[1]] if lists.max_row >= 1 and lists["A1"].value else []
    if spec.label in header:
        col = header.index(spec.label) + 1
    else:
        col = len(header) + 1
        lists.cell(1, col, spec.label)
        for i, choice in enumerate(spec.choices, start=2):
            lists.cell(i, col, choice)
    letter = get_column_letter(col)
    return f"{quote_sheetname('Lists')}!${letter}$2:${letter}${len(spec.choices) + 1}"
