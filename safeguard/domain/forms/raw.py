"""A form as read from any carrier, before checking: label -> raw value, plus subject rows.

xlsx and docx both arrive here as grids (tables of cells); the email body arrives as lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from safeguard.domain.forms.contract import FORM_BY_LABEL, MAX_SUBJECTS, SUBJECT_BY_LABEL, normalise_label
from safeguard.domain.forms.values import RawValue, as_text

MAX_ROWS = 2000  # rows of a form read from one sheet or table: far more than any form has

Grid = Sequence[Sequence[RawValue]]
_SUBJECT_LINE = re.compile(r"^subject\s*(\d{1,2})\s*[-:.]?\s*(.+)$", re.IGNORECASE)
_MAX_SUBJECT_NUMBER = 99


@dataclass
class RawForm:
    carrier: str
    fields: dict[str, RawValue] = field(default_factory=dict)
    subjects: list[dict[str, RawValue]] = field(default_factory=list)
    repeated: set[str] = field(default_factory=set)
    extra_subject_rows: int = 0

    def put(self, key: str, value: RawValue) -> None:
        if key in self.fields and as_text(self.fields[key]) and as_text(value):
            self.repeated.add(key)
        if as_text(value) or key not in self.fields:
            self.fields[key] = value

    def looks_like_a_form(self) -> bool:
        return len(self.fields) >= 3 or bool(self.subjects)


def from_grids(grids: Iterable[Grid], carrier: str) -> RawForm:
    """Rows whose first filled cell is a form label give `label | value`; a row holding three or
    more subject labels is a subjects table header, and the rows under it (until a blank row) are subjects."""
    form = RawForm(carrier)
    for grid in grids:
        header: dict[int, str] | None = None
        for row in grid:
            cells = [as_text(c) for c in row]
            if not any(cells):
                header = None
                continue
            labels = [normalise_label(c) if c else "" for c in cells]
            subject_cols = {i: SUBJECT_BY_LABEL[label].key for i, label in enumerate(labels)
                            if label in SUBJECT_BY_LABEL}
            if len(subject_cols) >= 3:
                header = subject_cols
                continue
            if header is not None:
                _add_subject(form, {key: row[i] for i, key in header.items() if i < len(row)})
                continue
            _label_value_row(form, row, cells, labels)
    return form


def _label_value_row(form: RawForm, row: Sequence[RawValue], cells: list[str], labels: list[str]) -> None:
    """cells: each cell as text; labels: the same as normalise_label makes them."""
    first = next((i for i, c in enumerate(cells) if c), None)
    if first is None:
        return
    spec = FORM_BY_LABEL.get(labels[first])
    if spec is None:
        return
    value = row[first + 1] if first + 1 < len(row) else None
    if first + 1 < len(labels) and labels[first + 1] in FORM_BY_LABEL:
        return  # a row of labels (a header), not a label and its value
    form.put(spec.key, value)


def _add_subject(form: RawForm, row: dict[str, RawValue]) -> None:
    if not any(as_text(v) for v in row.values()):
        return
    if len(form.subjects) >= MAX_SUBJECTS:
        form.extra_subject_rows += 1
        return
    form.subjects.append(row)


def from_lines(lines: Iterable[str], carrier: str, max_lines: int) -> RawForm:
    """`Label: value` per line; `Subject N Label: value` for subjects; other lines continue the last value."""
    form = RawForm(carrier)
    numbered: dict[int, dict[str, RawValue]] = {}
    last: tuple[dict[str, RawValue], str] | None = None
    for count, line in enumerate(lines):
        if count >= max_lines:
            break
        label, sep, value = line.partition(":")
        target = _line_target(label, form, numbered) if sep else None
        if target is not None:
            bucket, key = target
            if bucket is form.fields:
                form.put(key, value.strip())
            else:
                bucket[key] = value.strip()
            last = target
        elif last is not None and line.strip() and not line.lstrip().startswith(">"):
            bucket, key = last
            bucket[key] = f"{as_text(bucket.get(key))}\n{line.strip()}".strip()
        elif not line.strip():
            last = None
    for number in sorted(numbered)[:MAX_SUBJECTS]:
        _add_subject(form, numbered[number])
    form.extra_subject_rows += max(0, len(numbered) - MAX_SUBJECTS)
    return form


def _line_target(
    label: str, form: RawForm, numbered: dict[int, dict[str, RawValue]]
) -> tuple[dict[str, RawValue], str] | None:
    name = normalise_label(label)
    if name in FORM_BY_LABEL:
        return form.fields, FORM_BY_LABEL[name].key
    m = _SUBJECT_LINE.match(name)
    if m and normalise_label(m.group(2)) in SUBJECT_BY_LABEL and 0 < int(m.group(1)) <= _MAX_SUBJECT_NUMBER:
        return numbered.setdefault(int(m.group(1)), {}), SUBJECT_BY_LABEL[normalise_label(m.group(2))].key
    return None

