"""What a check reports, and what every check is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from safeguard.domain.config import Config

Values = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    label: str
    message: str

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"


@dataclass(frozen=True)
class CheckContext:
    today: date
    config: Config
