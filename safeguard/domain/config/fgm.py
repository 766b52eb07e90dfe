"""The FGM Enhanced Dataset as configuration (config/fgm.yaml): items in dataset order, their
types and permitted codes, where each came from, and how submissions and returns are handled.
The 2026 amendment (DAPB2026) or the next one is a change to that file, not to code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from safeguard.domain.config.base import Strict, _check_address

ItemType = Literal["nhs", "date", "postcode", "code", "country", "integer", "ods", "text"]


class FgmItem(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str  # the column header in the template and the record-level return
    type: ItemType
    required: bool = False
    codes: dict[str, str] = {}  # code -> label, for type "code"
    source: str

    @model_validator(mode="after")
    def _codes_for_code_items(self) -> FgmItem:
        if self.type == "code" and not self.codes:
            raise ValueError(f"item {self.key} is of type 'code' but lists no codes")
        return self


class Country(Strict):
    code: str = Field(pattern=r"^[A-Z]{2}$|^ZZ$")
    name: str
    region: str


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

    _recipients = field_validator("record_level_recipients")(lambda v: [_check_address(a) for a in v])

    @model_validator(mode="after")
    def _needed_items(self) -> FgmSettings:
        keys = [i.key for i in self.items]
        if len(keys) != len(set(keys)):
            raise ValueError("an item key appears twice")
        missing = {"nhs_number", "date_of_birth", "care_contact_date", "fgm_type"} - set(keys)
        if missing:
            raise ValueError(f"items must include {', '.join(sorted(missing))}: "
                             "the returns are built on them")
        return self

    def item(self, key: str) -> FgmItem | None:
        return next((i for i in self.items if i.key == key), None)

    def region_of(self, country_code: str | None) -> str:
        return next((c.region for c in self.countries if c.code == country_code), "Not known")
