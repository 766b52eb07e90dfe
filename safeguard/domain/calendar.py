"""Working days in England and Wales: weekends and bank holidays, including substitute days and
one-off holidays (e.g. 19 September 2022).

Two sources, merged: the maintained `holidays` package, and the published GOV.UK bank-holidays
JSON cached in config/bank-holidays.json (refresh with `safeguard calendar refresh`). A date either
source calls a bank holiday is not a working day, so a newly announced one-off holiday counts as
soon as the cache is refreshed, without waiting for a package release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import holidays

DIVISION = "england-and-wales"


@dataclass
class WorkingDays:
    extra: frozenset[date] = frozenset()  # from the GOV.UK cache
    _package: holidays.HolidayBase = field(default_factory=lambda: holidays.UK(subdiv="ENG"))

    def is_bank_holiday(self, day: date) -> bool:
        return day in self.extra or day in self._package

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_bank_holiday(day)

    def add(self, day: date, n: int) -> date:
        """The nth working day after `day` (n >= 0; n == 0 gives `day` itself)."""
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def subtract(self, day: date, n: int) -> date:
        return self.add(day, -n)

    def between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 if end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


def add_working_days(day: date, n: int, calendar: WorkingDays | None = None) -> date:
    return (calendar or WorkingDays()).add(day, n)


def working_days_between(start: date, end: date, calendar: WorkingDays | None = None) -> int:
    return (calendar or WorkingDays()).between(start, end)


def read_gov_uk(text: str) -> list[date]:
    data = json.loads(text)
    return [date.fromisoformat(e["date"]) for e in data[DIVISION]["events"]]
