"""A form as read from any carrier, before checking: label -> raw value, plus subject rows.

xlsx and docx both arrive here as grids (tables of cells); the email body arrives as lines
(lines.py). A form is read exactly as written: a label that is not on the form is reported by
name, never glued onto the value above it, and only free-text fields run over several lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from safeguard.domain.forms.contract import (
    FORM_BY_LABEL,
    FREE_TEXT,
    MAX_SUBJECTS,
    SUBJECT_BY_LABEL,
    FieldSpec,
    normalise_label,
)
from safeguard.domain.forms.values import RawValue, as_text

MAX_ROWS = 2000  # rows of a form read from one sheet or table: far more than any form has
MAX_UNKNOWN = 10  # unknown labels reported back: enough to show the sender what is wrong
MAX_LABEL_SHOWN = 40  # characters of an unknown label repeated in the reply

Grid = Sequence[Sequence[RawValue]]


@dataclass
class RawForm:
    carrier: str
    fields: dict[str, RawValue] = field(default_factory=dict)
    subjects: list[dict[str, RawValue]] = field(default_factory=list)
    repeated: set[str] = field(default_factory=set)
    extra_subject_rows: int = 0
    unknown: list[str] = field(default_factory=list)  # labels as written that are not on the form
    overflowing: list[str] = field(default_factory=list)  # labels given a second line they cannot take

    def put(self, key: str, value: RawValue) -> None:
        if key in self.fields and as_text(self.fields[key]) and as_text(value):
            self.repeated.add(key)
        if as_text(value) or key not in self.fields:
            self.fields[key] = value

    def not_on_the_form(self, label: str) -> None:
        shown = " ".join(label.split())[:MAX_LABEL_SHOWN]
        if shown and shown not in self.unknown and len(self.unknown) < MAX_UNKNOWN:
            self.unknown.append(shown)

    def cannot_continue(self, label: str) -> None:
        if label not in self.overflowing:
            self.overflowing.append(label)

    def looks_like_a_form(self) -> bool:
        return len(self.fields) >= 3 or bool(self.subjects)


@dataclass
class Target:
    """Where a value was put, so that a following line or merged row can continue it."""

    bucket: dict[str, RawValue]
    spec: FieldSpec
    label: str  # as problems name it, e.g. "Address (subject 2)"

    def continue_with(self, form: RawForm, text: str) -> None:
        if self.spec.kind in FREE_TEXT:
            self.bucket[self.spec.key] = f"{as_text(self.bucket.get(self.spec.key))}\n{text}".strip()
        else:
            form.cannot_continue(self.label)


def from_grids(grids: Iterable[Grid], carrier: str, *, strict: bool = False) -> RawForm:
    """Rows whose first filled cell is a form label give `label | value`; a row holding three or
    more subject labels is a subjects table header, and the rows under it (until a blank row) are
    subjects. strict (a docx): a row whose label is not on the form, with a value beside it, is
    reported; a row whose first cell is merged with the one above (None) continues its value; a
    merged cell's value is the next cell after the label's span."""
    form = RawForm(carrier)
    for grid in grids:
        header: dict[int, str] | None = None
        last: Target | None = None
        for row in grid:
            cells = [as_text(c) for c in row]
            if not any(cells):
                header = last = None
                continue
            labels = [normalise_label(c) if c else "" for c in cells]
            subject_cols = {i: SUBJECT_BY_LABEL[label].key for i, label in enumerate(labels)
                            if label in SUBJECT_BY_LABEL}
            if len(subject_cols) >= 3:
                header, last = subject_cols, None
                if strict:
                    _unknown_columns(form, cells, subject_cols)
                continue
            if header is not None:
                add_subject(form, {key: row[i] for i, key in header.items() if i < len(row)})
            elif strict and row[0] is None and last is not None:
                last.continue_with(form, " ".join(c for c in cells[1:] if c))
            else:
                last = _label_value_row(form, row, cells, labels, strict)
    return form


def _unknown_columns(form: RawForm, cells: list[str], subject_cols: dict[int, str]) -> None:
    for i, cell in enumerate(cells):
        if cell and i not in subject_cols:
            form.not_on_the_form(cell)


def _label_value_row(form: RawForm, row: Sequence[RawValue], cells: list[str], labels: list[str],
                     strict: bool) -> Target | None:
    """cells: each cell as text; labels: the same as normalise_label makes them."""
    first = next((i for i, c in enumerate(cells) if c), None)
    if first is None:
        return None
    spec = FORM_BY_LABEL.get(labels[first])
    if spec is None:
        if strict and any(cells[first + 1:]):
            form.not_on_the_form(cells[first].rstrip(":"))
        return None
    if first + 1 < len(labels) and labels[first + 1] in FORM_BY_LABEL:
        return None  # a row of labels (a header), not a label and its value
    at = first + 1
    if strict:  # past the cells merged into the label's (None)
        at = next((i for i in range(first + 1, len(row)) if row[i] is not None), len(row))
    form.put(spec.key, row[at] if at < len(row) else None)
    return Target(form.fields, spec, spec.label)


def add_subject(form: RawForm, row: dict[str, RawValue]) -> None:
    if not any(as_text(v) for v in row.values()):
        return
    if len(form.subjects) >= MAX_SUBJECTS:
        form.extra_subject_rows += 1
        return
    form.subjects.append(row)

