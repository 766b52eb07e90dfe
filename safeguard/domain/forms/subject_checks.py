"""Rules for each subject row: names, dates of birth and delivery, ages that fit the role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from safeguard.domain.forms.problems import CheckContext, Problem, Values

_OLDER_CHILD_NOTES = ("care leaver", "care-leaver", "disab", "send", "ehcp")


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def check_names(s: Values, n: int, _v: Values, _ctx: CheckContext) -> Iterator[Problem]:
    if s.get("role") not in (None, "Unborn") and not s.get("forenames"):
        yield Problem(f"Forenames (subject {n})", "is missing. Give the forenames, or 'Not known'.")


def check_date_of_birth(s: Values, n: int, _v: Values, ctx: CheckContext) -> Iterator[Problem]:
    born, role = s.get("date_of_birth"), s.get("role")
    if born is None:
        if role not in (None, "Unborn") and "date_of_birth" not in s:
            yield Problem(f"Date of birth (subject {n})", "is missing. Enter it as DD/MM/YYYY.")
        return
    if born > ctx.today:
        yield Problem(f"Date of birth (subject {n})",
                      "is in the future. Check it and enter it as DD/MM/YYYY.")
        return
    age = _age(born, ctx.today)
    note = (s.get("description") or "").lower()
    if role == "Child" and age >= 18 and not (age < 25 and any(k in note for k in _OLDER_CHILD_NOTES)):
        yield Problem(f"Date of birth (subject {n})",
                      "makes this Child 18 or over. Use the role Adult at risk, "
                      "or add a care-leaver or disability note in Description (up to age 25).")
    if role == "Adult at risk" and age < 18:
        yield Problem(f"Date of birth (subject {n})", "makes this adult under 18. Use the role Child.")
    if age > 120:
        yield Problem(f"Date of birth (subject {n})", "gives an age over 120. Check the year.")


def check_expected_delivery(s: Values, n: int, _v: Values, ctx: CheckContext) -> Iterator[Problem]:
    edd, label = s.get("expected_delivery_date"), f"Expected date of delivery (subject {n})"
    if s.get("role") == "Unborn" and "expected_delivery_date" not in s:
        yield Problem(label, "is required for an unborn baby. Enter it as DD/MM/YYYY.")
    if edd and not ctx.today - timedelta(days=60) <= edd <= ctx.today + timedelta(days=300):
        yield Problem(label, "must be between 60 days ago and 300 days from today. Check the date.")


SUBJECT_RULES = (check_names, check_date_of_birth, check_expected_delivery)
