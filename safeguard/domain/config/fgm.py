"""The FGM Enhanced Dataset as configuration (config/fgm.yaml): items in dataset order, their
types and permitted codes, where each came from, how each is broken down in the published return,
the rules between items, and how submissions and returns are handled. The 2026 amendment
(DAPB2026) or the next one is a change to that file, not to code: code names no item, only the
roles, groupings and rules the file declares."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from safeguard.domain.config.base import Strict, _check_address

ItemType = Literal["nhs", "date", "postcode", "code", "country", "integer", "ods", "text"]
# What the product needs an item for, whatever the item is called: linking a patient across months
# (patient_number, or birth_date and residence), the reporting month (contact_date), age at attendance.
Role = Literal["patient_number", "birth_date", "contact_date", "residence"]
NEEDED_ROLES = ("patient_number", "birth_date", "contact_date")
# How a breakdown groups an item's values: by its codes (or country names), country -> region,
# postcode district -> local authority, or date of birth -> age band at the care contact.
Grouping = Literal["code", "region", "area", "age_band"]
GROUPINGS_FOR: dict[str, tuple[str, ...]] = {"code": ("code",), "country": ("code", "region"),
                                             "postcode": ("area",), "date": ("age_band",)}


class Breakdown(Strict):
    title: str | None = None  # the table's name; the item's label if not given
    group: Grouping = "code"
    chart: bool = False  # a bar chart of attendances beside the table


class Requirement(Strict):
    """A cross-item rule: when this item has a value (one of `when`, if given), `item` must be one of `in`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    item: str
    in_: list[str] = Field(alias="in", min_length=1)
    when: list[str] = []
    message: str = ""  # what the provider is told after the column's name; never repeats the value

    @field_validator("in_", "when", mode="before")
    @classmethod
    def _codes_as_text(cls, value: Any) -> Any:
        """`in: [4]` in YAML means the code "4"."""
        return [str(v) for v in value] if isinstance(value, list) else value


class FgmItem(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str  # the column header in the template and the record-level return
    type: ItemType
    required: bool = False
    codes: dict[str, str] = {}  # code -> label, for type "code"
    source: str
    role: Role | None = None
    breakdown: Breakdown | None = None  # `true` for a breakdown by the item's codes
    requires: list[Requirement] = []

    @field_validator("breakdown", mode="before")
    @classmethod
    def _breakdown_shorthand(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

    @field_validator("requires", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _codes_for_code_items(self) -> FgmItem:
        if self.type == "code" and not self.codes:
            raise ValueError(f"item {self.key} is of type 'code' but lists no codes")
        if self.breakdown and self.breakdown.group not in GROUPINGS_FOR.get(self.type, ()):
            raise ValueError(f"item {self.key} (type '{self.type}') cannot be grouped by "
                             f"'{self.breakdown.group}'; use one of: "
                             f"{', '.join(GROUPINGS_FOR.get(self.type, ())) or 'none (no breakdown)'}")
        return self

    @property
    def table(self) -> str:
        return (self.breakdown.title if self.breakdown and self.breakdown.title else self.label)


class Country(Strict):
    code: str = Field(pattern=r"^[A-Z]{2}$|^ZZ$")
    name: str
    region: str


class SubmitterBreakdown(Strict):
    """A breakdown by who sent the records rather than by an item: the organisation, or its type."""

    by: Literal["organisation", "type"]
    title: str


class AreaLookup(Strict):
    """Postcode district (the outward code, e.g. CV1) -> local authority, with where it came from."""

    source: str
    as_of: date  # the date of the source the lookup was taken from
    districts: dict[str, str] = Field(min_length=1)

    @field_validator("districts")
    @classmethod
    def _outward_codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [d for d in value if not re.fullmatch(r"[A-Z]{1,2}[0-9][0-9A-Z]?", d)]
        if bad:
            raise ValueError(f"not postcode districts: {', '.join(bad[:5])} (write them like CV1 or B15)")
        return value

    def area_of(self, postcode: str | None) -> str:
        district = (postcode or "").strip().upper().split(" ")[0]
        return self.districts.get(district, "Not known") if district else "Not known"


class AttendanceList(Strict):
    """Children with `threshold` or more attendances in `months` months at the listed settings
    (seed 002, 13.3): a sheet of the record-level workbook, which alone may carry identifiers."""

    title: str
    threshold: int = Field(default=3, ge=2)
    months: int = Field(default=12, ge=1, le=36)
    under_age: int = Field(default=18, ge=1, le=120)
    settings: list[Requirement] = Field(min_length=1)  # an attendance counts when any one holds


class FgmSettings(Strict):
    source_note: str
    on_errors: Literal["keep_valid", "hold_all"] = "keep_valid"
    record_level_recipients: list[str] = []
    drop_folder: Path | None = None
    # FGM records (and dropped files) of submissions received longer ago than this are erased
    # nightly; the submissions' counts stay (0 keeps them).
    retention_days: int = Field(default=2920, ge=0)
    # A file replacing a month's earlier file with fewer rows than this share of it is accepted,
    # and the admin team told (it may be a mistake, or not from the provider): `safeguard fgm
    # restore` undoes a replacement.
    replacement_alert_ratio: float = Field(default=0.5, ge=0, le=1)
    items: list[FgmItem] = Field(min_length=1)
    countries: list[Country] = Field(min_length=1)
    submitter_breakdowns: list[SubmitterBreakdown] = []
    area_lookup: str | None = None  # a file beside fgm.yaml, read into `areas`
    areas: AreaLookup | None = None
    attendance_list: AttendanceList | None = None

    _recipients = field_validator("record_level_recipients")(lambda v: [_check_address(a) for a in v])

    @model_validator(mode="after")
    def _consistent(self) -> FgmSettings:
        keys = [i.key for i in self.items]
        if len(keys) != len(set(keys)):
            raise ValueError("an item key appears twice")
        roles = [i.role for i in self.items if i.role]
        if len(roles) != len(set(roles)):
            raise ValueError("a role is given to two items")
        missing = set(NEEDED_ROLES) - set(roles)
        if missing:
            raise ValueError(f"no item has the role {', '.join(sorted(missing))}: "
                             "the returns are built on it")
        for item in self.items:
            for rule in item.requires:
                self._known(rule, f"item {item.key} requires")
            if item.breakdown and item.breakdown.group == "area" and self.areas is None:
                raise ValueError(f"item {item.key} is broken down by area, but no area_lookup file is given")
        for rule in self.attendance_list.settings if self.attendance_list else []:
            self._known(rule, "attendance_list settings")
        return self

    def _known(self, rule: Requirement, where: str) -> None:
        other = self.item(rule.item)
        if other is None:
            raise ValueError(f"{where} item '{rule.item}', which is not in the items list")
        if other.codes and (unknown := [c for c in rule.in_ if c not in other.codes]):
            raise ValueError(f"{where} {rule.item} in {', '.join(unknown)}, which are not among its codes")

    def item(self, key: str) -> FgmItem | None:
        return next((i for i in self.items if i.key == key), None)

    def key_for(self, role: Role) -> str | None:
        """The key of the item playing `role`, whatever the dataset calls it."""
        return next((i.key for i in self.items if i.role == role), None)

    def region_of(self, country_code: str | None) -> str:
        return next((c.region for c in self.countries if c.code == country_code), "Not known")

    def country_name(self, country_code: str | None) -> str:
        return next((c.name for c in self.countries if c.code == country_code), "Not known")
