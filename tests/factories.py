"""Builders for test inputs: forms in every carrier, and hostile variants."""

from __future__ import annotations

import io
from datetime import date

from docx import Document

from testkit import samples
from tests.conftest import TODAY

SW = "tamsin.holloway@coventry-council.test"
TM = "orla.brightwater@coventry-council.test"
INBOX = "safeguarding@example-icb.test"


def fields(**overrides: str) -> dict[str, str]:
    return samples.form_fields(TODAY, **overrides)


def people(today: date = TODAY) -> list[dict[str, str]]:
    return samples.subjects(today)


def docx_form(form_fields: dict[str, str], subjects: list[dict[str, str]]) -> bytes:
    """A council's Word form: label | value rows, and a subjects table with a header row."""
    doc = Document()
    doc.add_paragraph("Health alert form")
    table = doc.add_table(rows=0, cols=2)
    for label, value in form_fields.items():
        row = table.add_row().cells
        row[0].text, row[1].text = f"{label}:", value
    headers = sorted({k for s in subjects for k in s}, key=lambda k: list(subjects[0]).index(k)
                     if k in subjects[0] else 99)
    people_table = doc.add_table(rows=1, cols=len(headers))
    for cell, header in zip(people_table.rows[0].cells, headers, strict=True):
        cell.text = header
    for person in subjects:
        cells = people_table.add_row().cells
        for cell, header in zip(cells, headers, strict=True):
            cell.text = person.get(header, "")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def xlsx_submission(**overrides: str) -> bytes:
    return samples.submission(SW, INBOX,
                              attachments=[("form.xlsx", samples.xlsx_form(fields(**overrides), people()))])


def text_submission(**overrides: str) -> bytes:
    return samples.submission(SW, INBOX, subject="Health alert",
                              body=samples.text_form(fields(**overrides), people()))
