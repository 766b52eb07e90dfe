from datetime import date

import pytest

from safeguard.domain.forms.values import (
    BadValue,
    nhs_number_is_valid,
    parse_date,
    parse_nhs_number,
    parse_phone,
    parse_postcode,
    parse_provider_codes,
)


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "9434765870"])
def test_valid_nhs_numbers_pass_the_modulus_11_check(number: str) -> None:
    assert parse_nhs_number(number) == number.replace(" ", "")


def _weighted_remainder(prefix: str) -> int:
    return sum(int(d) * w for d, w in zip(prefix, range(10, 1, -1), strict=True)) % 11


def test_a_check_digit_of_11_becomes_0() -> None:
    prefix = next(f"{n:09d}" for n in range(1, 1000) if _weighted_remainder(f"{n:09d}") == 0)
    assert nhs_number_is_valid(prefix + "0")
    assert not nhs_number_is_valid(prefix + "1")


def test_a_number_whose_check_digit_would_be_10_is_never_valid() -> None:
    prefix = next(f"{n:09d}" for n in range(1, 1000) if _weighted_remainder(f"{n:09d}") == 1)
    assert not any(nhs_number_is_valid(prefix + str(d)) for d in range(10))


@pytest.mark.parametrize("number", ["9434765918", "12345", "94347659191", "94347659AB"])
def test_wrong_nhs_numbers_are_refused_without_echoing_them(number: str) -> None:
    with pytest.raises(BadValue) as err:
        parse_nhs_number(number)
    assert number not in str(err.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-24", date(2026, 3, 24)), ("24/03/2026", date(2026, 3, 24)), ("3/4/2026", date(2026, 4, 3)),
    (46105.0, date(2026, 3, 24)), (date(2026, 3, 24), date(2026, 3, 24)),
])
def test_dates_are_read_in_the_three_accepted_forms(text: object, expected: date) -> None:
    assert parse_date(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["12/31/2026", "2026/03/24", "24-03-2026", "March 3rd", "31/02/2026", ""])
def test_american_and_other_date_forms_are_never_guessed(text: str) -> None:
    with pytest.raises(BadValue):
        parse_date(text)


@pytest.mark.parametrize(("text", "expected"), [("cv1 5fb", "CV1 5FB"), ("SW1A1AA", "SW1A 1AA"),
                                                ("B33 8TH", "B33 8TH")])
def test_uk_postcodes_are_normalised(text: str, expected: str) -> None:
    assert parse_postcode(text) == expected


@pytest.mark.parametrize("text", ["12345", "CV1", "QQ1 1QQ", "CV1 5FBX"])
def test_non_postcodes_are_refused(text: str) -> None:
    with pytest.raises(BadValue):
        parse_postcode(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("024 7683 1234", "02476831234"), ("+44 (0)24 7683 1234", "02476831234"), ("07700 900123", "07700900123"),
])
def test_uk_phone_numbers_are_accepted_in_common_forms(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize("text", ["12345", "+1 212 555 0100", "call me"])
def test_non_uk_phone_numbers_are_refused(text: str) -> None:
    with pytest.raises(BadValue):
        parse_phone(text)


def test_provider_codes_split_on_commas_and_lines_without_duplicates() -> None:
    assert parse_provider_codes("uhcw, SWFT\nGEH; uhcw") == ("UHCW", "SWFT", "GEH")
