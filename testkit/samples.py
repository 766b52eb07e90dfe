"""Synthetic health alert forms and submission emails for the demo, tests and benchmarks.

Every person here is invented. Names are distinctive so scans for leaked personal data can
search for them.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from openpyxl import load_workbook
from PIL import ExifTags, Image

from safeguard.adapters.notify.render import templates_dir
from safeguard.domain.forms.contract import SUBJECT_FIELDS

SUBJECT_SURNAME = "Quillfeather"
MOTHER_SURNAME = "Quillfeather"
CHILD_FORENAMES = "Zephyrine Amaranth"
CHILD_NHS = "9434765919"
MOTHER_NHS = "9434765870"
CHILD_POSTCODE = "CV1 5FB"


def form_fields(today: date, **overrides: str) -> dict[str, str]:
    """Section A, C, D, E, F values by label, for a valid missing-child alert."""
    fields = {
        "Alert type": "Missing child", "Urgency": "Urgent",
        "Reason for alert": "Child missing from placement since yesterday evening; "
                            "known risk of exploitation.",
        "Action requested if seen": "Keep the child safe, call the police on 999 and the out of hours team.",
        "Review date": (today + timedelta(days=28)).strftime("%d/%m/%Y"),
        "Case discussion date": (today - timedelta(days=2)).strftime("%d/%m/%Y"),
        "Team manager": "Orla Brightwater", "Operational lead": "Imran Castellane",
        "Designated nurse consulted on": (today - timedelta(days=1)).strftime("%d/%m/%Y"),
        "CP-IS alert raised": "Yes", "Legal status": "Looked after (s31)", "Parents informed": "Yes",
        "GP practice": "Example Medical Centre",
        "Providers to alert": "UHCW, SWFT",
        "Reason for choice of providers": "Nearest emergency departments to the last known address.",
        "Social worker name": "Tamsin Holloway",
        "Social worker email": "tamsin.holloway@coventry-council.test",
        "Social worker phone": "024 7683 1234",
        "Team manager email": "orla.brightwater@coventry-council.test",
        "Team manager phone": "024 7683 1000", "Local authority": "Coventry City Council",
        "Out of hours contact": "024 7683 2222",
    }
    fields.update(overrides)
    return fields


def subjects(today: date) -> list[dict[str, str]]:
    born = (today.replace(year=today.year - 14) if not (today.month == 2 and today.day == 29)
            else date(today.year - 14, 2, 28))
    return [
        {"Role": "Child", "Surname": SUBJECT_SURNAME, "Forenames": CHILD_FORENAMES,
         "Date of birth": born.strftime("%d/%m/%Y"), "NHS number": CHILD_NHS, "Sex": "Female",
         "Address": "12 Nowhere Lane, Coventry", "Postcode": CHILD_POSTCODE},
        {"Role": "Mother", "Surname": MOTHER_SURNAME, "Forenames": "Persephone",
         "Date of birth": "03/04/1985", "NHS number": MOTHER_NHS, "Sex": "Female"},
    ]


def text_form(fields: dict[str, str], people: list[dict[str, str]]) -> str:
    lines = [f"{label}: {value}" for label, value in fields.items()]
    for n, person in enumerate(people, start=1):
        lines += [f"Subject {n} {label}: {value}" for label, value in person.items()]
    return "\n".join(lines) + "\n"


def xlsx_form(fields: dict[str, str], people: list[dict[str, str]]) -> bytes:
    """The committed template, filled in as a social worker would."""
    book = load_workbook(templates_dir() / "health_alert_form.xlsx")
    sheet = book["Form"]
    header_row = None
    for row in sheet.iter_rows():
        label = row[0].value
        if label in fields:
            row[1].value = fields[label]
        if label == SUBJECT_FIELDS[0].label:
            header_row = row[0].row
    assert header_row is not None
    columns = {sheet.cell(header_row, c).value: c for c in range(1, len(SUBJECT_FIELDS) + 1)}
    for offset, person in enumerate(people, start=1):
        for label, value in person.items():
            sheet.cell(header_row + offset, columns[label], value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


OFFICE_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
IMAGE_TYPES = {"jpg": ("image", "jpeg"), "jpeg": ("image", "jpeg"), "png": ("image", "png")}


def photo_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG as a phone takes it: EXIF with the camera, its orientation and where it was taken (GPS)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "ExamplePhone"
    exif[ExifTags.Base.Orientation] = 6
    gps = ExifTags.GPS
    exif[ExifTags.IFD.GPSInfo] = {gps.GPSLatitudeRef: "N", gps.GPSLatitude: (52.0, 24.0, 30.0),
                                  gps.GPSLongitudeRef: "W", gps.GPSLongitude: (1.0, 30.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


GATEWAY = "mx.example-icb.test"  # the example site's boundary gateway (config/settings.yaml)


def gateway_stamp(sender: str, result: str = "pass", authserv_id: str = GATEWAY) -> str:
    """The Authentication-Results header the example site's gateway writes on a message it received."""
    domain = sender.rpartition("@")[2] or "sender.test"
    return (f"{authserv_id}; spf={result} smtp.mailfrom={domain}; dkim={result} header.d={domain}; "
            f"dmarc={result} header.from={domain}")


def submission(sender: str, to: str, *, subject: str = "Health alert form", body: str = "",
               attachments: list[tuple[str, bytes]] | None = None, message_id: str | None = None,
               html: str | None = None, extra_headers: dict[str, str] | None = None,
               authenticated: bool = True) -> bytes:
    """An email as the site's mailbox receives it: by default with the gateway's dmarc=pass stamp
    on top (authenticated=False leaves it off, as a message that bypassed the gateway would be)."""
    msg = EmailMessage()
    if authenticated:
        msg["Authentication-Results"] = gateway_stamp(sender)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or "sender.test")
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(body or "Please find the health alert form attached.\n")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, data in attachments or []:
        maintype, subtype = IMAGE_TYPES.get(filename.rpartition(".")[2].lower(), OFFICE_TYPE)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()
