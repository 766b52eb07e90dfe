"""A form typed into the email itself: `Label: value` per line, `Subject N Label: value` for
subjects, read exactly as written.

- A line that looks like a label (`Something: value`) but is not one on the form is reported by
  name; it is never added to the value above it.
- A line without a label continues the value above only if that is a free-text field (contract
  FREE_TEXT); under any other field it is reported. A blank line ends a value.
- Quoted lines (`>`) are ignored, and reading stops at a signature line (`-- `) or where an
  earlier email quoted below begins (`From: …`, `-----Original Message-----`, `On … wrote:`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from safeguard.domain.forms.contract import FORM_BY_LABEL, MAX_SUBJECTS, SUBJECT_BY_LABEL, normalise_label
from safeguard.domain.forms.raw import RawForm, Target, add_subject
from safeguard.domain.forms.values import RawValue

_SUBJECT_LINE = re.compile(r"^subject\s*(\d{1,2})\s*[-:.]?\s*(.+)$", re.IGNORECASE)
_MAX_SUBJECT_NUMBER = 99
# What a label looks like: a few words, starting with a letter (so "10:30" or "http://..." is text).
_LABEL_LIKE = re.compile(r"^[^\W\d_][\w ()/&',.-]{0,59}$")
_MAX_LABEL_WORDS = 6
SIGNATURE = "--"
# Where an earlier email quoted below the form begins (Outlook, Gmail, Apple Mail): reading stops.
_QUOTED_EMAIL = re.compile(r"^(?:-{2,} ?original message ?-{2,}|from: .+|on .+ wrote:)$", re.IGNORECASE)


def from_lines(lines: Iterable[str], carrier: str, max_lines: int) -> RawForm:
    form = RawForm(carrier)
    numbered: dict[int, dict[str, RawValue]] = {}
    last: Target | None = None
    for count, line in enumerate(lines):
        text = line.strip()
        if count >= max_lines or line.rstrip() == SIGNATURE or _QUOTED_EMAIL.match(text):
            break
        if text.startswith(">"):
            continue
        if not text:
            last = None
            continue
        label, sep, value = line.partition(":")
        target = _line_target(label, form, numbered) if sep else None
        if target is not None:
            _put(form, target, value.strip())
            last = target
        elif sep and _looks_like_a_label(label, value):
            form.not_on_the_form(label.strip())
            last = None
        elif last is not None:
            last.continue_with(form, text)
    for number in sorted(numbered)[:MAX_SUBJECTS]:
        add_subject(form, numbered[number])
    form.extra_subject_rows += max(0, len(numbered) - MAX_SUBJECTS)
    return form


def _put(form: RawForm, target: Target, value: str) -> None:
    if target.bucket is form.fields:
        form.put(target.spec.key, value)
    else:
        target.bucket[target.spec.key] = value


def _looks_like_a_label(label: str, value: str) -> bool:
    name = label.strip()
    return (bool(_LABEL_LIKE.match(name)) and len(name.split()) <= _MAX_LABEL_WORDS
            and not value.startswith("//"))


def _line_target(label: str, form: RawForm, numbered: dict[int, dict[str, RawValue]]) -> Target | None:
    name = normalise_label(label)
    if name in FORM_BY_LABEL:
        spec = FORM_BY_LABEL[name]
        return Target(form.fields, spec, spec.label)
    m = _SUBJECT_LINE.match(name)
    if m and normalise_label(m.group(2)) in SUBJECT_BY_LABEL and 0 < int(m.group(1)) <= _MAX_SUBJECT_NUMBER:
        spec = SUBJECT_BY_LABEL[normalise_label(m.group(2))]
        return Target(numbered.setdefault(int(m.group(1)), {}), spec, f"{spec.label} (subject {m.group(1)})")
    return None
