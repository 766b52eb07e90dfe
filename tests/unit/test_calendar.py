"""Working days in England and Wales, 2024-2027 and the one-off holidays."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from safeguard.adapters.calendar_source import load_calendar, refresh_cache
from safeguard.domain.calendar import WorkingDays, add_working_days, working_days_between

CAL = WorkingDays()


@pytest.mark.parametrize(("day", "working"), [
    (date(2024, 3, 29), False), (date(2024, 4, 1), False), (date(2024, 4, 2), True),  # Easter 2024
    (date(2024, 5, 6), False), (date(2024, 5, 27), False), (date(2024, 8, 26), False),
    (date(2025, 4, 18), False), (date(2025, 4, 21), False), (date(2025, 8, 25), False),
    # Boxing Day on a Saturday
    (date(2026, 12, 25), False), (date(2026, 12, 28), False), (date(2026, 12, 29), True),
    # Christmas at a weekend
    (date(2027, 12, 27), False), (date(2027, 12, 28), False), (date(2027, 12, 29), True),
    (date(2027, 3, 26), False), (date(2027, 3, 29), False), (date(2027, 5, 3), False),
    (date(2027, 8, 30), False),
    (date(2022, 9, 19), False), (date(2022, 6, 3), False),  # one-off: the State Funeral, the Platinum Jubilee
    (date(2028, 2, 29), True), (date(2026, 11, 21), False),  # a leap day (Tuesday); a Saturday
])
def test_working_days(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_adding_working_days_skips_weekends_and_bank_holidays() -> None:
    # Friday before the Spring bank holiday
    assert add_working_days(date(2026, 5, 22), 1) == date(2026, 5, 26)
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)  # Christmas Eve
    assert add_working_days(date(2027, 12, 24), 2) == date(2027, 12, 30)
    assert add_working_days(date(2024, 3, 28), 1) == date(2024, 4, 2)  # over Easter
    assert add_working_days(date(2028, 2, 28), 1) == date(2028, 2, 29)  # onto a leap day
    assert CAL.subtract(date(2026, 12, 29), 3) == date(2026, 12, 22)
    assert add_working_days(date(2026, 11, 23), 0) == date(2026, 11, 23)


def test_working_days_between() -> None:
    assert working_days_between(date(2026, 12, 24), date(2026, 12, 29)) == 1
    assert working_days_between(date(2026, 11, 20), date(2026, 11, 23)) == 1  # Friday to Monday
    assert working_days_between(date(2026, 11, 23), date(2026, 11, 23)) == 0
    assert working_days_between(date(2026, 11, 24), date(2026, 11, 23)) == 0


def gov_uk(*days: str) -> str:
    return json.dumps({"england-and-wales": {"division": "england-and-wales",
                                             "events": [{"title": "Extra", "date": d, "notes": "",
                                                         "bunting": True}
                                                        for d in days]}})


def test_a_one_off_holiday_from_the_gov_uk_cache_counts(tmp_path: Path) -> None:
    (tmp_path / "bank-holidays.json").write_text(gov_uk("2026-11-24"))
    assert not load_calendar(tmp_path).is_working_day(date(2026, 11, 24))
    assert load_calendar(tmp_path / "none").is_working_day(date(2026, 11, 24))


def test_refresh_fetches_over_http_and_keeps_the_cache_when_offline(tmp_path: Path) -> None:
    body = gov_uk("2026-11-24", "2026-12-25").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert refresh_cache(tmp_path,
                             f"http://127.0.0.1:{server.server_port}/bank-holidays.json") == (True, 2)
    finally:
        server.shutdown()
    assert refresh_cache(tmp_path, "http://127.0.0.1:9/unreachable", timeout=2) == (False, 2)
    assert not load_calendar(tmp_path).is_working_day(date(2026, 11, 24))
