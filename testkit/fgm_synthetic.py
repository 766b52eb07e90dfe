"""Synthetic FGM records (invented people) for the demo, tests and the benchmark."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from safeguard.domain.forms.values import nhs_number_is_valid


def valid_nhs_numbers(start: int = 943476000) -> Any:
    """Endless valid NHS numbers (Modulus 11), from a nine-digit stem upward."""
    stem = start
    while True:
        for check in range(10):
            candidate = f"{stem:09d}{check}"
            if nhs_number_is_valid(candidate):
                yield candidate
                break
        stem += 1


def record(nhs: str, contact: date, **overrides: Any) -> dict[str, Any]:
    """One valid attendance, with values as a provider would type them."""
    row: dict[str, Any] = {
        "nhs_number": nhs, "date_of_birth": date(1990, 5, 17), "postcode": "CV1 2AB",
        "care_contact_date": contact,
        "referral_org_type": "GP - GP practice", "referral_org_code": "M86001", "site_of_treatment": "RKB01",
        "treatment_function": "501 - Obstetrics", "pregnancy_status": "Y - Pregnant",
        "identification_method": "CE - Clinical examination", "family_history": "NK - Not known",
        "daughters_under_18": 1, "advised_health": "Y - Yes", "advised_illegality": "Y - Yes",
        "daughters_born": 0,
        "country_of_birth": "SO - Somalia", "father_country": "SO - Somalia", "fgm_type": "3 - Type 3",
        "type4_qualifier": None, "deinfibulation": "N - No", "age_fgm_undertaken": "5-9 - 5 to 9",
        "country_fgm_undertaken": "SO - Somalia",
    }
    row.update(overrides)
    return row


def random_month(month: str, count: int, seed: int = 1, patients: int | None = None) -> list[dict[str, Any]]:
    """`count` valid records spread over a month, about `patients` distinct people."""
    rng = random.Random(seed)
    year, mon = (int(x) for x in month.split("-"))
    numbers = valid_nhs_numbers(943400000 + seed * 100000)
    people = [next(numbers) for _ in range(patients or max(1, count * 2 // 3))]
    types = [("1 - Type 1", "N - No"), ("2 - Type 2", "N - No"), ("3 - Type 3", "Y - Yes"),
             ("3a - Type 3a", "N - No"), ("4 - Type 4", "N - No"), ("NK - FGM type not known", "N - No")]
    countries = ["SO - Somalia", "ER - Eritrea", "NG - Nigeria", "SD - Sudan", "GM - Gambia", "EG - Egypt"]
    rows = []
    for _ in range(count):
        fgm_type, deinf = rng.choice(types)
        rows.append(record(
            rng.choice(people), date(year, mon, rng.randint(1, 28)),
            date_of_birth=date(1960, 1, 1) + timedelta(days=rng.randint(0, 16000)),
            fgm_type=fgm_type, deinfibulation=deinf,
            type4_qualifier="PR - Pricking" if fgm_type.startswith("4") else None,
            country_of_birth=rng.choice(countries),
            age_fgm_undertaken=rng.choice(["U1 - Under 1", "1-4 - 1 to 4", "5-9 - 5 to 9", "10-14 - 10 to 14",
                                           "NK - Not known"]),
            identification_method=rng.choice(["SR - Self-report", "CE - Clinical examination"])))
    return rows
