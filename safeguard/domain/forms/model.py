"""The typed health alert form, as validation produces it and the register stores it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Subject:
    role: str
    surname: str
    forenames: str | None = None
    known_as: str | None = None
    date_of_birth: date | None = None
    expected_delivery_date: date | None = None
    nhs_number: str | None = None
    sex: str | None = None
    address: str | None = None
    postcode: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class HealthAlertForm:
    alert_type: str
    urgency: str
    reason: str
    action_if_seen: str
    review_date: date
    case_discussion_date: date
    team_manager: str
    operational_lead: str
    designated_nurse_consulted_on: date
    cp_is_alert_raised: str
    legal_status: str
    parents_informed: str
    providers: tuple[str, ...]
    provider_reason: str
    social_worker_name: str
    social_worker_email: str
    social_worker_phone: str
    team_manager_email: str
    team_manager_phone: str
    local_authority: str
    out_of_hours_contact: str
    subjects: tuple[Subject, ...]
    alert_reference: str | None = None
    reason_parents_not_informed: str | None = None
    gp_practice: str | None = None
    pharmacy: str | None = None
    ambulance_contact: str | None = None
    education_setting: str | None = None
    police_involvement: str | None = None
    community_contacts: str | None = None
    photo_attached: str | None = None  # "Yes": the photos attached travel with the notices

    @property
    def expected_delivery(self) -> date | None:
        """The earliest expected date of delivery among the subjects (an unborn baby), if any."""
        return min((s.expected_delivery_date for s in self.subjects if s.expected_delivery_date),
                   default=None)

    def to_json(self) -> dict[str, Any]:
        """JSON values (dates as ISO text), field by field: dataclasses.asdict would deep-copy every
        value first, and this runs for every form received."""
        return {name: [_fields_json(s) for s in self.subjects] if name == "subjects"
                else _jsonable(getattr(self, name)) for name in _field_names(HealthAlertForm)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HealthAlertForm:
        subjects = tuple(Subject(**_dates(s, Subject)) for s in data["subjects"])
        fields = _dates({k: v for k, v in data.items() if k != "subjects"}, cls)
        fields["providers"] = tuple(fields["providers"])
        return cls(subjects=subjects, **fields)


def _fields_json(item: Subject) -> dict[str, Any]:
    return {name: _jsonable(getattr(item, name)) for name in _field_names(Subject)}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _dates(data: dict[str, Any], cls: type) -> dict[str, Any]:
    date_fields = {f.name for f in dataclasses.fields(cls)
                   if "date" in str(f.type) and "str" not in str(f.type)}
    return {k: (date.fromisoformat(v) if k in date_fields and isinstance(v, str) else v)
            for k, v in data.items()}
