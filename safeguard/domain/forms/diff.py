"""What changed between two versions of a form, field by field, named by the form's labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from safeguard.domain.forms.contract import FORM_FIELDS, SUBJECT_FIELDS
from safeguard.domain.forms.model import HealthAlertForm, Subject

IGNORED = {"alert_reference"}  # carried, not content


@dataclass(frozen=True)
class Change:
    label: str  # e.g. "Review date" or "Subject 2 Address": safe to show anywhere
    new: str  # the new value as a person reads it ("" when removed): personal data, notices only


def show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def changes(old: HealthAlertForm, new: HealthAlertForm) -> list[Change]:
    found = [Change(f.label, show(getattr(new, f.key))) for f in FORM_FIELDS
             if f.key not in IGNORED and getattr(old, f.key) != getattr(new, f.key)]
    for n in range(max(len(old.subjects), len(new.subjects))):
        before = old.subjects[n] if n < len(old.subjects) else None
        after = new.subjects[n] if n < len(new.subjects) else None
        if after is None:
            found.append(Change(f"Subject {n + 1}", "removed from the alert"))
            continue
        if before is None:
            found.append(Change(f"Subject {n + 1}", f"added ({after.role})"))
            continue
        found += [Change(f"Subject {n + 1} {f.label}", show(getattr(after, f.key))) for f in SUBJECT_FIELDS
                  if getattr(before, f.key) != getattr(after, f.key)]
    return found


def initials(subject: Subject) -> str:
    names = (subject.forenames or "").split() + subject.surname.split()
    return "".join(n[0].upper() for n in names if n[:1].isalpha()) or "?"


def age_band(subject: Subject, today: date) -> str:
    """Broad enough to decide on, too broad to identify anyone."""
    if subject.date_of_birth is None:
        return "unborn" if subject.expected_delivery_date else "age not given"
    born = subject.date_of_birth
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for limit, band in ((1, "under 1"), (5, "1-4"), (10, "5-9"), (13, "10-12"), (16, "13-15"), (18, "16-17"),
                        (25, "18-24"), (65, "25-64")):
        if years < limit:
            return band
    return "65 or over"
