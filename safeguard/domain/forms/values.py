"""Reading one value of each kind the form uses: dates, NHS numbers, postcodes, phones, emails."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

RawValue = str | int | float | date | datetime | None

# ASCII: no look-alike digits from other scripts
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII)
_UK = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)
_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d{1,2}|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRV-Y])"
    r" ?\d[ABD-HJLNP-UW-Z]{2})$"
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
                    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_EXCEL_EPOCH = date(1899, 12, 30)


class BadValue(ValueError):
    """The value cannot be read; the message says how to write it instead (never echoes the value)."""


def as_text(raw: RawValue) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw).strip()


def parse_date(raw: RawValue) -> date:
    """YYYY-MM-DD, DD/MM/YYYY or an Excel date cell. MM/DD/YYYY is never guessed."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if not 1 <= raw < 2958466:
            raise BadValue("is not a date. Enter it as DD/MM/YYYY.")
        return _EXCEL_EPOCH + timedelta(days=int(raw))
    text = as_text(raw)
    if m := _ISO.match(text):
        y, mo, d = (int(g) for g in m.groups())
    elif m := _UK.match(text):
        d, mo, y = (int(g) for g in m.groups())
    else:
        raise BadValue("is not a date we can read. Enter it as DD/MM/YYYY, for example 24/03/2026.")
    try:
        return date(y, mo, d)
    except ValueError:
        raise BadValue("is not a real calendar date (dates are read day first: DD/MM/YYYY).") from None


def nhs_number_is_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 on the first nine digits; 11 becomes 0; 10 is never valid."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def parse_nhs_number(raw: RawValue) -> str:
    digits = re.sub(r"[\s-]", "", as_text(raw))
    if len(digits) != 10 or not digits.isdigit():
        raise BadValue("must be 10 digits (spaces are allowed). Check it against the patient's record.")
    if not nhs_number_is_valid(digits):
        raise BadValue("fails the NHS number check digit, so a digit is wrong. Check it against the record.")
    return digits


def parse_postcode(raw: RawValue) -> str:
    text = " ".join(as_text(raw).upper().split())
    if not _POSTCODE.match(text):
        raise BadValue("is not a UK postcode. Enter it like CV1 5FB, or leave it blank if unknown.")
    compact = text.replace(" ", "")
    return f"{compact[:-3]} {compact[-3:]}"


def parse_phone(raw: RawValue) -> str:
    text = as_text(raw)
    compact = re.sub(r"[\s().-]", "", text)
    if compact.startswith("+44"):
        compact = "0" + compact[3:].removeprefix("0")
    elif compact.startswith("0044"):
        compact = "0" + compact[4:].removeprefix("0")
    if not re.fullmatch(r"0\d{9,10}", compact):
        raise BadValue("is not a UK phone number. Enter it like 024 7683 1234 or +44 24 7683 1234.")
    return compact


def parse_email(raw: RawValue) -> str:
    text = as_text(raw).lower()
    if not _EMAIL.match(text) or len(text) > 254:
        raise BadValue("is not an email address. Enter it like firstname.lastname@council.gov.uk.")
    return text


def parse_choice(raw: RawValue, choices: tuple[str, ...]) -> str:
    text = " ".join(as_text(raw).split()).lower()
    for choice in choices:
        if choice.lower() == text:
            return choice
    raise BadValue("must be one of: " + ", ".join(choices) + ".")


def parse_provider_codes(raw: RawValue) -> tuple[str, ...]:
    codes = [c.strip().upper() for c in re.split(r"[,;\n]+", as_text(raw)) if c.strip()]
    return tuple(dict.fromkeys(codes))


def parse_reference(raw: RawValue, prefix: str) -> str:
    text = as_text(raw).upper()
    if not re.fullmatch(rf"{prefix}-\d{{4}}-\d{{6}}", text):
        raise BadValue(f"must look like {prefix}-2026-000123, or be left blank for a new alert.")
    return text
