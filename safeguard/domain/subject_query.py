"""Who a subject access request is about, and whether a subject on a form is that person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class SubjectQuery:
    nhs_number: str | None = None
    name: str | None = None
    date_of_birth: date | None = None

    def __post_init__(self) -> None:
        if not digits(self.nhs_number) and not (self.name and self.date_of_birth):
            raise ValueError("Give the person's NHS number, or their name and date of birth.")

    def matches(self, subject: dict[str, Any]) -> bool:
        """A subject as stored in a form (JSON: dates as ISO text)."""
        if digits(self.nhs_number):
            return digits(subject.get("nhs_number")) == digits(self.nhs_number)
        surname = subject.get("surname")
        names = {words(f"{subject.get(first) or ''} {surname}") for first in ("forenames", "known_as")}
        born = self.date_of_birth.isoformat() if self.date_of_birth else None
        return words(self.name) in names and subject.get("date_of_birth") == born

    def key(self) -> str:
        return f"sar:{digits(self.nhs_number)}|{words(self.name)}|{self.date_of_birth}"


def digits(value: object) -> str:
    return re.sub(r"\D", "", str(value or ""))


def words(value: object) -> str:
    return " ".join(str(value or "").lower().split())
