"""Builders for test inputs: forms in every carrier, and hostile variants."""

from __future__ import annotations

import io
from datetime import date

from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from safeguard.domain.forms.contract import SUBJECT_FIELDS
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


W14 = ' xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"'


def checkbox_control(checked: bool) -> list[str]:
    """A Word checkbox content control (Developer > Check Box), as ☒ or ☐."""
    return [f'<w:sdt {nsdecls("w")}{W14}><w:sdtPr><w14:checkbox><w14:checked w14:val="{int(checked)}"/>'
            '</w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>'
            f'{"☒" if checked else "☐"}</w:t></w:r></w:sdtContent></w:sdt>']


def legacy_checkbox(checked: bool) -> list[str]:
    """A legacy form-field checkbox (FORMCHECKBOX), as older council templates have."""
    state = "<w:checked/>" if checked else ""
    return [f'<w:r {nsdecls("w")}><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Check1"/>'
            f'<w:enabled/><w:checkBox><w:sizeAuto/><w:default w:val="0"/>{state}</w:checkBox></w:ffData>'
            '</w:fldChar></w:r>',
            f'<w:r {nsdecls("w")}><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>',
            f'<w:r {nsdecls("w")}><w:fldChar w:fldCharType="end"/></w:r>']


def text_run(text: str) -> list[str]:
    return [f'<w:r {nsdecls("w")}><w:t xml:space="preserve">{text}</w:t></w:r>']


PLACEHOLDER = [f'<w:sdt {nsdecls("w")}><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent><w:r>'
               '<w:t>Click or tap here to enter text.</w:t></w:r></w:sdtContent></w:sdt>']


def word_form(form_fields: dict[str, str | list[str]], subjects: list[dict[str, str]],
              extra_rows: tuple[tuple[str, str], ...] = (), merged: bool = False,
              merged_down: dict[str, str] | None = None) -> bytes:
    """A council's Word form with Word's own controls: a value given as a list of XML elements
    (checkbox_control, legacy_checkbox, PLACEHOLDER, text_run) goes into the value cell as is.
    extra_rows: more `label | value` rows. merged: a heading row merged across both columns, each
    label's value cell merged across two columns, and the last subject's Address merged down from
    the one above. merged_down: label -> a second value, in a row under the label's whose label cell
    is merged down from it."""
    doc = Document()
    table = doc.add_table(rows=0, cols=3 if merged else 2)
    if merged:
        heading = table.add_row().cells
        heading[0].merge(heading[2]).text = "Section A: the alert"
    for label, value in [*form_fields.items(), *extra_rows]:
        row = table.add_row().cells
        row[0].text = label
        cell = row[1].merge(row[2]) if merged else row[1]
        if isinstance(value, list):
            for xml in value:
                cell.paragraphs[0]._p.append(parse_xml(xml))
        else:
            cell.text = value
        if label in (merged_down or {}):
            below = table.add_row().cells
            below[1].text = (merged_down or {})[label]
            row[0].merge(below[0]).text = label
    _people_table(doc, subjects, merged)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _people_table(doc, subjects: list[dict[str, str]], merge_address: bool) -> None:
    headers = [f.label for f in SUBJECT_FIELDS]
    table = doc.add_table(rows=1, cols=len(headers))
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        cell.text = header
    for person in subjects:
        cells = table.add_row().cells
        for cell, header in zip(cells, headers, strict=True):
            cell.text = person.get(header, "")
    if merge_address and len(subjects) > 1:
        column = headers.index("Address")
        table.rows[-2].cells[column].merge(table.rows[-1].cells[column])
