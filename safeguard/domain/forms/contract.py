"""The one definition of the health alert form (docs/health-alert-form.md explains it for people).

The xlsx template, the parsers, the validation messages and the plain-text fallback all read
these labels; nothing else spells them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a field holds, so how it is read and checked."""

    TEXT = "text"
    CHOICE = "choice"
    DATE = "date"
    EMAIL = "email"
    PHONE = "phone"
    NHS = "nhs"
    POSTCODE = "postcode"
    PROVIDERS = "providers"
    REFERENCE = "reference"

ALERT_TYPES = ("Missing child", "Missing family", "Unborn baby", "Child at risk of presenting",
               "Adult at risk")
URGENCIES = ("Routine", "Urgent")
ROLES = ("Child", "Unborn", "Mother", "Father", "Adult at risk", "Person posing risk")
SEXES = ("Female", "Male", "Not known")
YES_NO = ("Yes", "No")
CP_IS = ("Yes", "No", "Not applicable")
LEGAL_STATUSES = ("Child protection plan", "Child in need", "Looked after (s20)", "Looked after (s31)",
                  "Interim care order (s38)", "Pre-birth plan", "None")
LOOKED_AFTER = ("Looked after (s20)", "Looked after (s31)", "Interim care order (s38)")
MAX_SUBJECTS = 6


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = 500
    hint: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[FieldSpec, ...]


def _f(key: str, label: str, kind: str = "text", required: bool = False, **kw: object) -> FieldSpec:
    return FieldSpec(key, label, Kind(kind), required, **kw)  # type: ignore[arg-type]


SECTIONS: tuple[Section, ...] = (
    Section("A. The alert", (
        _f("alert_type", "Alert type", "choice", True, choices=ALERT_TYPES),
        _f("urgency", "Urgency", "choice", True, choices=URGENCIES),
        _f("reason", "Reason for alert", "text", True, max_length=2000),
        _f("action_if_seen", "Action requested if seen", "text", True, max_length=2000,
           hint="what the hospital should do if the person presents"),
        _f("review_date", "Review date", "date", True),
        _f("alert_reference", "Alert reference", "reference",
           hint="leave blank for a new alert; give the reference to update an existing one"),
    )),
    Section("C. Decision making", (
        _f("case_discussion_date", "Case discussion date", "date", True),
        _f("team_manager", "Team manager", "text", True, max_length=200),
        _f("operational_lead", "Operational lead", "text", True, max_length=200),
        _f("designated_nurse_consulted_on", "Designated nurse consulted on", "date", True),
        _f("cp_is_alert_raised", "CP-IS alert raised", "choice", True, choices=CP_IS),
        _f("legal_status", "Legal status", "choice", True, choices=LEGAL_STATUSES),
        _f("parents_informed", "Parents informed", "choice", True, choices=YES_NO),
        _f("reason_parents_not_informed", "Reason parents not informed", "text", max_length=2000),
    )),
    Section("D. Services likely to have contact", (
        _f("gp_practice", "GP practice", max_length=500),
        _f("pharmacy", "Pharmacy", max_length=500),
        _f("ambulance_contact", "Ambulance service contact", max_length=500),
        _f("education_setting", "Education setting", max_length=500),
        _f("police_involvement", "Police involvement", max_length=500),
        _f("community_contacts", "Community contacts", max_length=1000),
    )),
    Section("E. Distribution", (
        _f("providers", "Providers to alert", "providers", True, max_length=1000,
           hint="provider codes from the agreed directory, separated by commas"),
        _f("provider_reason", "Reason for choice of providers", "text", True, max_length=2000),
        _f("photo_attached", "Photo attached", "choice", choices=YES_NO,
           hint="Yes when photos (.jpg or .png) attached to the email should go to the providers"),
    )),
    Section("F. Contacts", (
        _f("social_worker_name", "Social worker name", "text", True, max_length=200),
        _f("social_worker_email", "Social worker email", "email", True),
        _f("social_worker_phone", "Social worker phone", "phone", True),
        _f("team_manager_email", "Team manager email", "email", True),
        _f("team_manager_phone", "Team manager phone", "phone", True),
        _f("local_authority", "Local authority", "text", True, max_length=200),
        _f("out_of_hours_contact", "Out of hours contact", "phone", True,
           hint="the emergency duty team's number"),
    )),
)

SUBJECT_FIELDS: tuple[FieldSpec, ...] = (
    _f("role", "Role", "choice", True, choices=ROLES),
    _f("surname", "Surname", "text", True, max_length=100),
    _f("forenames", "Forenames", "text", max_length=200),
    _f("known_as", "Known as", "text", max_length=200),
    _f("date_of_birth", "Date of birth", "date"),
    _f("expected_delivery_date", "Expected date of delivery", "date"),
    _f("nhs_number", "NHS number", "nhs"),
    _f("sex", "Sex", "choice", choices=SEXES),
    _f("address", "Address", "text", max_length=500),
    _f("postcode", "Postcode", "postcode"),
    _f("description", "Description", "text", max_length=1000),
)

FORM_FIELDS: tuple[FieldSpec, ...] = tuple(f for s in SECTIONS for f in s.fields)
FREE_TEXT = (Kind.TEXT, Kind.PROVIDERS)  # the kinds whose value may run over several lines


def normalise_label(text: str) -> str:
    """Labels match case-insensitively, ignoring surrounding spaces and a trailing colon."""
    return " ".join(str(text).strip().rstrip(":").strip().lower().split())


FORM_BY_LABEL = {normalise_label(f.label): f for f in FORM_FIELDS}
SUBJECT_BY_LABEL = {normalise_label(f.label): f for f in SUBJECT_FIELDS}
