"""Reading and checking one provider's monthly FGM submission (the xlsx template or a CSV with
the same headers). Every problem is collected with its row and column; valid rows are kept.

Rules (docs/fgm-dataset.md): codes from config/fgm.yaml; NHS number Modulus 11 or "not available";
care contact inside the reporting month; date of birth before the care contact (the items with
those roles); and the rules between items that config/fgm.yaml declares (safeguard/domain/fgm_rules.py).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from safeguard.domain.config import Config
from safeguard.domain.config.fgm import FgmItem, FgmSettings
from safeguard.domain.fgm_rules import broken_rules, message_for
from safeguard.domain.forms.contract import normalise_label
from safeguard.domain.forms.document import Document
from safeguard.domain.forms.values import (
    BadValue,
    RawValue,
    as_text,
    parse_date,
    parse_nhs_number,
    parse_postcode,
)

NOT_AVAILABLE = "not available"
MAX_RECORDS = 50_000
MONTH = re.compile(r"\b(20\d\d)-(0[1-9]|1[0-2])\b")
RECORDS_SHEET = "Records"
SUBMISSION_SHEET = "Submission"


class SubmissionUnreadable(Exception):
    """The file as a whole cannot be used; the message says what to send instead."""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet row (the header is row 1), or the CSV line
    column: str  # the item's label
    message: str  # never repeats the value


@dataclass
class Submission:
    month: str | None  # YYYY-MM, as the file says it (the Submission sheet), if it does
    organisation: str | None
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row number, checked values)
    errors: list[RowError] = field(default_factory=list)
    blank_rows: int = 0

    @property
    def error_rows(self) -> set[int]:
        return {e.row for e in self.errors}


def month_bounds(month: str) -> tuple[date, date]:
    year, mon = (int(x) for x in month.split("-"))
    start = date(year, mon, 1)
    end = date(year + (mon == 12), mon % 12 + 1, 1)
    return start, end


def read_grid(data: bytes, filename: str,
              document: Document | None) -> tuple[list[list[RawValue]], dict[str, str]]:
    """The records table and the submission fields (organisation, month) from a CSV, or from an xlsx
    already read (`document`, by intake's reader process or fgm/reading.py). Raises
    SubmissionUnreadable."""
    if filename.lower().endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        return [list(r) for r in csv.reader(io.StringIO(text))][:MAX_RECORDS + 1], {}
    if document is None:
        raise SubmissionUnreadable("The file could not be read. Send it again as the FGM template (.xlsx) "
                                   "or a CSV.")
    if document.problem:
        raise SubmissionUnreadable(f"The file {document.problem}")
    sheets = dict(document.tables)
    records = sheets.get(RECORDS_SHEET) or next(iter(sheets.values()), [])
    meta: dict[str, str] = {}
    for row in sheets.get(SUBMISSION_SHEET, []):
        if len(row) >= 2 and row[0] is not None:
            meta[normalise_label(str(row[0]))] = as_text(row[1])
    return records, meta


def check_submission(grid: list[list[RawValue]], meta: dict[str, str], fgm: FgmSettings,
                     month: str | None) -> Submission:
    """Check every row against the items; `month` (YYYY-MM) overrides the file's own."""
    sub = Submission(month=month or _meta_month(meta),
                     organisation=meta.get("submitting organisation code") or None)
    if not grid:
        raise SubmissionUnreadable("The file has no rows. Use the FGM submission template and fill in one "
                                   "row per attendance.")
    if len(grid) > MAX_RECORDS:
        raise SubmissionUnreadable(f"The file has more than {MAX_RECORDS} rows. Split it into smaller files.")
    header = [normalise_label(as_text(h)) for h in grid[0]]
    columns = {item.key: header.index(normalise_label(item.label)) for item in fgm.items
               if normalise_label(item.label) in header}
    missing = [i.label for i in fgm.items if i.required and i.key not in columns]
    if missing:
        raise SubmissionUnreadable("These columns are missing from the header row: " + ", ".join(missing) +
                                   ". Use the FGM submission template, or a CSV with its exact headers.")
    if sub.month is None or not MONTH.fullmatch(sub.month):
        raise SubmissionUnreadable("We could not tell which month this is for. Put the month as YYYY-MM in "
                                   "the template's Submission sheet, or in the email subject "
                                   "(e.g. FGM 2026-10).")
    bounds = month_bounds(sub.month)
    for offset, row in enumerate(grid[1:], start=2):
        if all(as_text(v) == "" for v in row):
            sub.blank_rows += 1
            continue
        values, errors = _check_row(row, columns, fgm, bounds, offset)
        sub.errors.extend(errors)
        if not errors:
            sub.rows.append((offset, values))
    return sub


def _meta_month(meta: dict[str, str]) -> str | None:
    text = meta.get("reporting month (yyyy-mm)") or meta.get("reporting month") or ""
    m = MONTH.search(text)
    return f"{m.group(1)}-{m.group(2)}" if m else None


def _check_row(row: list[RawValue], columns: dict[str, int], fgm: FgmSettings, bounds: tuple[date, date],
               number: int) -> tuple[dict[str, Any], list[RowError]]:
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for item in fgm.items:
        raw = row[columns[item.key]] if item.key in columns and columns[item.key] < len(row) else None
        if as_text(raw) == "":
            values[item.key] = None
            if item.required:
                errors.append(RowError(number, item.label, "is missing."))
            continue
        try:
            values[item.key] = _value(item, raw, fgm)
        except BadValue as exc:
            errors.append(RowError(number, item.label, str(exc)))
    errors += _cross_checks(values, fgm, bounds, number)
    return values, errors


def _value(item: FgmItem, raw: RawValue, fgm: FgmSettings) -> Any:
    text = as_text(raw)
    if item.type == "nhs":
        return NOT_AVAILABLE if text.lower() == NOT_AVAILABLE else parse_nhs_number(raw)
    if item.type == "date":
        return parse_date(raw).isoformat()
    if item.type == "postcode":
        return parse_postcode(raw)
    if item.type == "integer":
        if not re.fullmatch(r"\d{1,2}", text):
            raise BadValue("must be a whole number from 0 to 99.")
        return int(text)
    if item.type == "code":
        return _code(text, item.codes, "Choose one of the template's drop-down values.")
    if item.type == "country":
        return _code(text, {c.code: c.name for c in fgm.countries},
                     "Choose a country from the template's drop-down (ZZ for other or not known).")
    if item.type == "ods":
        if not re.fullmatch(r"[A-Z0-9]{3,10}", text.upper()):
            raise BadValue("must be an ODS code of 3 to 10 letters and digits.")
        return text.upper()
    return text[:500]


def _code(text: str, codes: dict[str, str], advice: str) -> str:
    """Accepts the code, its label, or the drop-down's "CODE - Label"."""
    wanted = text.split(" - ", 1)[0].strip().lower()
    for code, label in codes.items():
        if wanted == code.lower() or text.strip().lower() == label.lower():
            return code
    raise BadValue(f"is not a permitted value. {advice}")


def _cross_checks(v: dict[str, Any], fgm: FgmSettings, bounds: tuple[date, date], n: int) -> list[RowError]:
    """The date rules (by role) and the rules between items that config/fgm.yaml declares."""
    born_item = fgm.item(fgm.key_for("birth_date") or "")
    contact_item = fgm.item(fgm.key_for("contact_date") or "")
    contact, born = _date_of(v, contact_item), _date_of(v, born_item)
    errors = []
    if contact and contact_item and not bounds[0] <= contact < bounds[1]:
        errors.append(RowError(n, contact_item.label, f"is outside the reporting month "
                               f"({bounds[0]:%m/%Y}). Send it with the month it belongs to."))
    if contact and contact_item and born and born_item and born >= contact:
        errors.append(RowError(n, born_item.label, f"is not before the {contact_item.label.lower()}. "
                               "Check both dates."))
    errors += [RowError(n, item.label, message_for(rule, fgm)) for item, rule in broken_rules(v, fgm)]
    return errors


def _date_of(values: dict[str, Any], item: FgmItem | None) -> date | None:
    return date.fromisoformat(values[item.key]) if item and values.get(item.key) else None


def check_file(data: bytes, filename: str, config: Config, provider_code: str, month_hint: str | None,
               document: Document | None) -> Submission:
    """A provider's file (a CSV, or an xlsx already read as `document`) checked against config/fgm.yaml.
    Raises SubmissionUnreadable with a plain-English reason."""
    grid, meta = read_grid(data, filename, document)
    has_own_month = bool(meta.get("reporting month (yyyy-mm)"))
    sub = check_submission(grid, meta, config.fgm, None if has_own_month else month_hint)
    if sub.organisation and sub.organisation.strip().upper() != provider_code:
        raise SubmissionUnreadable("The Submission sheet names organisation "
                                   f"{sub.organisation.strip().upper()}, but this came from {provider_code}. "
                                   "Correct the sheet, or send it from that organisation's safeguarding "
                                   "mailbox.")
    return sub
