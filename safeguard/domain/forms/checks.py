"""Checking a raw form against every rule in the contract, collecting every problem at once.

Each problem names the label, says what is wrong and how to fix it, and never repeats the
value itself (problems are stored and may be reported; the values are personal data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from safeguard.domain.forms.contract import FORM_FIELDS, LOOKED_AFTER, SUBJECT_FIELDS, FieldSpec, Kind
from safeguard.domain.forms.model import HealthAlertForm, Subject
from safeguard.domain.forms.problems import CheckContext, Problem, Values
from safeguard.domain.forms.raw import RawForm
from safeguard.domain.forms.subject_checks import SUBJECT_RULES
from safeguard.domain.forms.values import (
    BadValue,
    RawValue,
    as_text,
    parse_choice,
    parse_date,
    parse_email,
    parse_nhs_number,
    parse_phone,
    parse_postcode,
    parse_provider_codes,
    parse_reference,
)


def check_form(raw: RawForm, ctx: CheckContext) -> tuple[HealthAlertForm | None, list[Problem]]:
    """Every problem in the form, and the typed form when there are none."""
    problems: list[Problem] = []
    values = _read_fields(raw.fields, FORM_FIELDS, "", ctx, problems)
    subjects = [_read_fields(row, SUBJECT_FIELDS, f" (subject {n})", ctx, problems)
                for n, row in enumerate(raw.subjects, start=1)]
    problems += [Problem(_label(k), "appears more than once with different values. Give it once.")
                 for k in sorted(raw.repeated)]
    problems += read_as_written(raw)
    if raw.extra_subject_rows:
        problems.append(Problem("Subjects",
                                "the form allows at most 6 subjects. Send a second alert for the others."))
    for rule in FORM_RULES:
        problems.extend(rule(values, subjects, ctx))
    for n, subject in enumerate(subjects, start=1):
        for subject_rule in SUBJECT_RULES:
            problems.extend(subject_rule(subject, n, values, ctx))
    if problems:
        return None, problems
    form = HealthAlertForm(subjects=tuple(Subject(**s) for s in subjects), **values)
    return form, []


def read_as_written(raw: RawForm) -> list[Problem]:
    """Lines or rows that could not be read as written: unknown labels (named as the sender wrote
    them, which is not a value) and values running onto lines their field does not take."""
    return ([Problem(f"'{label}'", "is not a label on the form. Use the labels exactly as the form "
                     "gives them, or remove that line.") for label in raw.unknown]
            + [Problem(label, "runs onto a second line, but only text fields can. Put its value on the "
                       "same line as the label, and start every other line with a label from the form.")
               for label in raw.overflowing])


def _read_fields(row: dict[str, RawValue], specs: tuple[FieldSpec, ...], where: str,
                 ctx: CheckContext, problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in specs:
        raw = row.get(spec.key)
        if not as_text(raw):
            if spec.required:
                problems.append(Problem(spec.label + where, f"is missing. {_how_to_fill(spec)}"))
            continue
        try:
            values[spec.key] = _convert(spec, raw, ctx)
        except BadValue as exc:
            values[spec.key] = None  # present but unreadable: reported here, not again as missing
            problems.append(Problem(spec.label + where, str(exc)))
    return values


def _convert(spec: FieldSpec, raw: RawValue, ctx: CheckContext) -> Any:
    if spec.kind == Kind.TEXT:
        text = as_text(raw)
        if len(text) > spec.max_length:
            raise BadValue(f"is longer than {spec.max_length:,} characters. Shorten it.")
        return text
    if spec.kind == Kind.CHOICE:
        return parse_choice(raw, spec.choices)
    if spec.kind == Kind.REFERENCE:
        return parse_reference(raw, ctx.config.settings.service.reference_prefix)
    return _READERS[spec.kind](raw)


_READERS: dict[str, Callable[[RawValue], Any]] = {
    "date": parse_date, "email": parse_email, "phone": parse_phone, "nhs": parse_nhs_number,
    "postcode": parse_postcode, "providers": parse_provider_codes,
}


def _how_to_fill(spec: FieldSpec) -> str:
    if spec.choices:
        return "Choose one of: " + ", ".join(spec.choices) + "."
    if spec.kind == Kind.DATE:
        return "Enter it as DD/MM/YYYY."
    return f"Fill it in ({spec.hint})." if spec.hint else "Fill it in."


def _label(key: str) -> str:
    return next(f.label for f in FORM_FIELDS + SUBJECT_FIELDS if f.key == key)



def check_review_date(v: Values, _s: list[Values], ctx: CheckContext) -> Iterator[Problem]:
    review, kind = v.get("review_date"), ctx.config.alert_type(v.get("alert_type") or "")
    if review is None:
        return
    if review <= ctx.today:
        yield Problem("Review date",
                      "must be after today. Choose the date the alert should next be reviewed.")
    elif kind and review > ctx.today + timedelta(days=kind.max_lifetime_days):
        yield Problem("Review date", f"is too far ahead: a {kind.name.lower()} alert can last at most "
                      f"{kind.max_lifetime_days} days. Choose an earlier date; you can extend it later.")


def check_decision_dates(v: Values, _s: list[Values], ctx: CheckContext) -> Iterator[Problem]:
    discussed, consulted = v.get("case_discussion_date"), v.get("designated_nurse_consulted_on")
    if discussed and discussed > ctx.today:
        yield Problem("Case discussion date",
                      "is in the future. Hold the case discussion before raising the alert.")
    if consulted and consulted > ctx.today:
        yield Problem("Designated nurse consulted on",
                      "is in the future. Consult the Designated Nurse first.")
    if discussed and consulted and consulted < discussed:
        yield Problem("Designated nurse consulted on", "is before the case discussion date. "
                      "The Designated Nurse is consulted after the case discussion: check both dates.")


def check_cp_is(v: Values, _s: list[Values], _ctx: CheckContext) -> Iterator[Problem]:
    needs = (v.get("alert_type") == "Unborn baby" or v.get("legal_status") == "Child protection plan"
             or v.get("legal_status") in LOOKED_AFTER)
    if needs and v.get("cp_is_alert_raised") not in (None, "Yes"):
        yield Problem("CP-IS alert raised", "must be Yes for an unborn baby, a child protection plan or a "
                      "looked-after child. Raise the CP-IS alert first, then resend the form.")


def check_parents_informed(v: Values, _s: list[Values], _ctx: CheckContext) -> Iterator[Problem]:
    if v.get("parents_informed") == "No" and not v.get("reason_parents_not_informed"):
        yield Problem("Reason parents not informed", "is required when parents were not informed: "
                      "record why the information is shared without their knowledge.")


def check_providers(v: Values, _s: list[Values], ctx: CheckContext) -> Iterator[Problem]:
    codes = v.get("providers")
    if codes is None:
        return
    unknown = [c for c in codes if ctx.config.provider(c) is None]
    if not codes:
        yield Problem("Providers to alert", "lists no providers. Give at least one code from the directory.")
    elif unknown:
        yield Problem("Providers to alert", "these codes are not in the agreed directory: "
                      + ", ".join(unknown)
                      + ". Use codes from the directory sent with the form, or ask the safeguarding team.")


def check_social_worker_domain(v: Values, _s: list[Values], ctx: CheckContext) -> Iterator[Problem]:
    email = v.get("social_worker_email")
    if email and not ctx.config.is_authorised_sender(email):
        yield Problem("Social worker email", "is not on an authorised council or NHS domain. "
                      "Give your work email address.")


def check_subject_mix(v: Values, subjects: list[Values], _ctx: CheckContext) -> Iterator[Problem]:
    roles = {s.get("role") for s in subjects}
    if not subjects:
        yield Problem("Subjects",
                      "none given. Add at least one subject (the child, unborn baby or adult at risk).")
    elif not roles & {"Child", "Unborn", "Adult at risk"}:
        yield Problem("Subjects", "at least one subject must have the role Child, Unborn or Adult at risk.")
    if v.get("alert_type") == "Unborn baby" and "Mother" not in roles:
        yield Problem("Subjects", "an unborn baby alert needs a subject with the role Mother.")


FORM_RULES = (check_review_date, check_decision_dates, check_cp_is, check_parents_informed, check_providers,
              check_social_worker_domain, check_subject_mix)
