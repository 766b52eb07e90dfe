"""Write the hostile-input corpus: every file an email as it would arrive, named NNN-what.eml.
Their expected outcomes are in expected.yaml. Regenerate with: .venv/bin/python -m tests.corpus.build
(the files are committed, so the corpus does not change under a test)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from testkit import samples
from tests import hostile
from tests.factories import (
    INBOX,
    PLACEHOLDER,
    SW,
    TM,
    checkbox_control,
    fields,
    legacy_checkbox,
    people,
    text_run,
    word_form,
)
from tests.samples.build import POSTFIX_BOUNCE, delayed_dsn, exchange_online_ndr

HERE = Path(__file__).parent
SUB = "Health alert form"


def msg(sender: str = SW, subject: str = SUB, body: str = "Form attached.\n", attachments: tuple = (),
        mid: str = "", extra: dict[str, str] | None = None) -> bytes:
    return samples.submission(sender, INBOX, subject=subject, body=body, attachments=list(attachments),
                              message_id=mid or None, extra_headers=extra)


def text_form(**overrides: str) -> bytes:
    return msg(body=samples.text_form(fields(**overrides), people()))


def raw(text: str, sender: str = SW) -> bytes:
    """A message written out by hand, as the site's gateway passes it on (its dmarc=pass stamp on top)."""
    stamped = f"Authentication-Results: {samples.gateway_stamp(sender)}\n{text}"
    return stamped.replace("\n", "\r\n").encode()


def from_address(address: str) -> bytes:
    """A valid text form sent from another address (its domain's own DMARC passes at the gateway)."""
    form = text_form().replace(SW.encode(), address.encode())
    head, sep, body = form.partition(b"\n\n")
    kept = re.sub(rb"^Authentication-Results:.*\n(?:[ \t].*\n)*", b"", head + b"\n", flags=re.MULTILINE)
    return (f"Authentication-Results: {samples.gateway_stamp(address)}\n".encode()
            + kept.rstrip(b"\n") + sep + body)


def docx(data: bytes) -> bytes:
    return msg(attachments=(("form.docx", data),))


def photo_form(answer: str, *photos: tuple[str, bytes]) -> bytes:
    return msg(body=samples.text_form(fields(**{"Photo attached": answer}), people()), attachments=photos)


def nested(depth: int) -> bytes:
    inner = EmailMessage()
    inner.set_content(samples.text_form(fields(), people()))
    for _ in range(depth):
        outer = EmailMessage()
        outer.make_mixed()
        outer.attach(inner)
        inner = outer
    inner["Authentication-Results"] = samples.gateway_stamp(SW)
    inner["From"], inner["To"], inner["Subject"] = SW, INBOX, SUB
    inner["Date"] = format_datetime(datetime(2026, 11, 23, tzinfo=UTC))
    inner["Message-ID"] = "<nested@coventry-council.test>"
    return inner.as_bytes()



CASES: dict[str, Callable[[], bytes]] = {
    # well-formed controls
    "valid-xlsx": lambda: msg(attachments=(("form.xlsx", hostile.valid_xlsx()),)),
    "valid-text": lambda: text_form(),
    # malformed MIME and headers
    "no-headers-at-all": lambda: b"\r\n\r\nhello\r\n",
    "two-from-headers": lambda: raw(f"From: {SW}\nFrom: evil@freemail.test\nTo: {INBOX}\n"
                                    "Subject: x\n\nbody\n"),
    "no-from": lambda: raw(f"To: {INBOX}\nSubject: {SUB}\n\nbody\n"),
    "broken-boundary": lambda: raw(f'From: {SW}\nTo: {INBOX}\nSubject: {SUB}\nMIME-Version: 1.0\n'
                                   'Content-Type: multipart/mixed; boundary="zzz"\n\n'
                                   '--yyy\nContent-Type: text/plain\n\n'
                                   'no matching boundary\n'),
    "unterminated-multipart": lambda: raw(f'From: {SW}\nTo: {INBOX}\nSubject: {SUB}\nMIME-Version: 1.0\n'
                                          'Content-Type: multipart/mixed; boundary="b"\n\n'
                                          '--b\nContent-Type: text/plain\n\n'
                                          + samples.text_form(fields(), people())),
    "nested-multipart-12-deep": lambda: nested(12),
    "huge-subject-200k": lambda: msg(subject="A" * 200_000),
    "header-injection-encoded-subject": lambda: msg(
        subject="=?utf-8?q?Health_alert=0D=0ABcc:_evil@freemail.test?="),
    "crlf-in-form-field": lambda: text_form(**{"Local authority": "Coventry\r\nBcc: evil@freemail.test"}),
    "unknown-charset": lambda: raw(f'From: {SW}\nTo: {INBOX}\nSubject: {SUB}\nContent-Type: text/plain; '
                                   'charset="x-klingon"\n\n' + samples.text_form(fields(), people())),
    "latin1-body-declared-utf8": lambda: (f'Authentication-Results: {samples.gateway_stamp(SW)}\r\n'
                                          f'From: {SW}\r\nTo: {INBOX}\r\nSubject: {SUB}\r\n'
                                          'Content-Type: text/plain; '
                                          'charset="utf-8"\r\n\r\nCaf\xe9 ').encode("latin-1")
                                         + samples.text_form(fields(), people()).encode(),
    "base64-garbage-body": lambda: raw(f'From: {SW}\nTo: {INBOX}\nSubject: {SUB}\n'
                                       'Content-Transfer-Encoding: base64\n'
                                       'Content-Type: text/plain\n\n!!!not base64!!!\n'),
    "ten-thousand-lines": lambda: msg(body="line\n" * 10_000),
    "empty-body": lambda: msg(body=" "),
    "html-only-with-script": lambda: samples.submission(SW, INBOX, subject=SUB, body="",
                                                       html="<script>alert(1)</script><p>hello</p>"),
    "null-bytes-in-body": lambda: msg(body="Alert type: Missing\x00 child\n"),
    # senders
    "unauthorised-domain": lambda: from_address("someone@freemail.test"),
    "homoglyph-domain-digit": lambda: from_address("tamsin.holloway@coventry-counci1.test"),
    "homoglyph-domain-cyrillic": lambda: raw(f"From: tamsin.holloway@c\u043eventry-council.test\n"
                                             f"To: {INBOX}\nSubject: {SUB}\n\n"
                                             + samples.text_form(fields(), people())),
    "rtl-override-in-display-name": lambda: raw(f'From: "Tamsin \u202eliame\u202c" <{SW}>\nTo: {INBOX}\n'
                                                f"Subject: {SUB}\nMessage-ID: <rtl@coventry-council.test>\n\n"
                                                + samples.text_form(fields(), people())),
    "rtl-override-in-address": lambda: raw(f"From: tamsin\u202e@coventry-council.test\nTo: {INBOX}\n"
                                           "Subject: x\n\nx\n"),
    "forged-reply-to": lambda: msg(extra={"Reply-To": "evil@freemail.test"}),
    "out-of-office": lambda: msg(subject="Automatic reply: away", extra={"Auto-Submitted": "auto-replied"}),
    "bounce-from-mailer-daemon": lambda: msg(sender="MAILER-DAEMON@coventry-council.test",
                                             subject="Undeliverable",
                                             extra={"Auto-Submitted": "auto-replied"}),
    # attachments
    "zip-bomb": lambda: msg(attachments=(("form.xlsx", hostile.zip_bomb()),)),
    "xxe-xlsx": lambda: msg(attachments=(("form.xlsx", hostile.xxe_xlsx()),)),
    "billion-laughs-xlsx": lambda: msg(attachments=(("form.xlsx", hostile.billion_laughs_xlsx()),)),
    "macro-enabled-xlsm": lambda: msg(attachments=(("form.xlsm", hostile.valid_xlsx()),)),
    "macro-inside-xlsx": lambda: msg(attachments=(("form.xlsx", hostile.macro_inside_xlsx()),)),
    "password-protected": lambda: msg(attachments=(("form.xlsx", hostile.encrypted_office_file()),)),
    "corrupt-xlsx": lambda: msg(attachments=(("form.xlsx", hostile.corrupt_xlsx()),)),
    "legacy-xls": lambda: msg(attachments=(("form.xls", hostile.encrypted_office_file()),)),
    "executable": lambda: msg(attachments=(("form.exe", b"MZ" + b"\0" * 500),)),
    "javascript": lambda: msg(attachments=(("form.js", b"alert(1)"),)),
    "double-extension": lambda: msg(attachments=(("form.xlsx.exe", b"MZ" + b"\0" * 500),)),
    "two-forms": lambda: msg(attachments=(("a.xlsx", hostile.valid_xlsx()),
                                          ("b.xlsx", hostile.valid_xlsx()))),
    "xlsx-that-is-a-pdf": lambda: msg(attachments=(("form.xlsx", b"%PDF-1.7\n" + b"0" * 1000),)),
    "empty-xlsx-file": lambda: msg(attachments=(("form.xlsx", b""),)),
    # field contents
    "jinja-in-fields": lambda: text_form(**{"Local authority":
                                            "{{ 7*7 }} {% for x in range(9) %}x{% endfor %}"}),
    "formula-injection": lambda: text_form(**{"Reason for alert": '=HYPERLINK("http://evil.example","Click")'}),
    "plus-cmd-injection": lambda: text_form(**{"Action requested if seen": "+cmd|' /C calc'!A0"}),
    "html-in-fields": lambda: text_form(**{"Reason for alert": "<img src=x onerror=alert(1)> missing"}),
    "oversized-reason": lambda: text_form(**{"Reason for alert": "x" * 5000}),
    "unicode-names": lambda: text_form(**{"Team manager": "Zoë O'Brien-Ñúñez 李"}),
    "sql-looking-text": lambda: text_form(**{"Local authority": "Coventry'); DROP TABLE alerts;--"}),
    # dates
    "date-31-february": lambda: text_form(**{"Review date": "31/02/2027"}),
    "date-29-february-non-leap": lambda: text_form(**{"Review date": "29/02/2027"}),
    "date-us-format": lambda: text_form(**{"Review date": "12/31/2026"}),
    "date-month-13": lambda: text_form(**{"Review date": "2026-13-01"}),
    "date-two-digit-year": lambda: text_form(**{"Review date": "01/12/26"}),
    "date-words": lambda: text_form(**{"Review date": "next Tuesday"}),
    "review-date-today": lambda: text_form(**{"Review date": "23/11/2026"}),
    "review-date-past": lambda: text_form(**{"Review date": "01/11/2026"}),
    "review-date-beyond-lifetime": lambda: text_form(**{"Review date": "01/01/2028"}),
    "case-discussion-future": lambda: text_form(**{"Case discussion date": "01/12/2026"}),
    "nhs-number-bad-check-digit": lambda: msg(body=samples.text_form(fields(), [
        {**people()[0], "NHS number": "9434765918"}, people()[1]])),
    "postcode-invalid": lambda: msg(body=samples.text_form(fields(), [
        {**people()[0], "Postcode": "XX99 ZZZZ"}, people()[1]])),
    "phone-not-uk": lambda: text_form(**{"Social worker phone": "+1 212 555 0100"}),
    "provider-not-in-directory": lambda: text_form(**{"Providers to alert": "UHCW, NOPE1"}),
    "free-typed-provider-address": lambda: text_form(**{"Providers to alert": "evil@freemail.test"}),
    # commands
    "withdraw-unknown-reference": lambda: msg(subject="WITHDRAW HSA-2026-999999", body="Reason: Found\n"),
    "extend-garbage-date": lambda: msg(sender=TM, subject="EXTEND HSA-2026-999999 to someday"),
    "reference-with-injection": lambda: msg(
        subject="=?utf-8?q?WITHDRAW_HSA-2026-000001=0D=0ABcc:_evil@freemail.test?="),
    # forms read exactly as written (issue 18): unknown labels named, Word's controls read as meant
    "unknown-label-in-body": lambda: msg(body=samples.text_form(fields(), people()) + "Photograph: Yes\n"),
    "photo-attached-no-in-body": lambda: msg(body=samples.text_form(fields(), people())
                                             + "Photo attached: No\n"),
    "unknown-label-in-docx": lambda: docx(word_form(fields(), people(), extra_rows=(("Ethnicity", "x"),))),
    "docx-checkbox-controls": lambda: docx(word_form({**fields(), "Parents informed": [
        *checkbox_control(True), *text_run(" Yes "), *checkbox_control(False), *text_run(" No")],
        "Photo attached": legacy_checkbox(False)}, people())),
    "docx-placeholder-in-optional-field": lambda: docx(word_form({**fields(), "Pharmacy": PLACEHOLDER},
                                                                 people())),
    "docx-placeholder-in-required-field": lambda: docx(word_form({**fields(), "Team manager": PLACEHOLDER},
                                                                 people())),
    "docx-merged-cells": lambda: docx(word_form(fields(), people(), merged=True)),
    # photos (issue 18): re-encoded without EXIF, sent only when Photo attached is Yes
    "photo-yes-with-gps-jpeg": lambda: photo_form("Yes", ("IMG_0001.jpg", samples.photo_with_gps())),
    "photo-with-no": lambda: photo_form("No", ("IMG_0001.jpg", samples.photo_with_gps())),
    "photo-decompression-bomb": lambda: photo_form("Yes", ("huge.png", hostile.png_bomb())),
}

# Delivery-status notifications (numbered from 110). The corpus runs against an empty register, so
# none matches an email we sent: each is filed and changes nothing (tests/integration/test_bounces.py
# has the matched ones).
NOTICE_ID = "<5d41402abc4b2a76b9719d911017c592a1b2c3d4@example-icb.test>"
BOUNCE_CASES: dict[str, Callable[[], bytes]] = {
    "postfix-bounce-real": lambda: POSTFIX_BOUNCE.read_bytes(),
    "exchange-online-ndr": lambda: exchange_online_ndr(NOTICE_ID, "safeguarding@uhcw.test", INBOX),
    "delayed-dsn": lambda: delayed_dsn(NOTICE_ID, "safeguarding@uhcw.test", INBOX),
}
NUMBERED = ((1, CASES), (110, BOUNCE_CASES))  # (first number, cases)


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    for start, cases in NUMBERED:
        for n, (name, build) in enumerate(cases.items(), start=start):
            (HERE / f"{n:03d}-{name}.eml").write_bytes(build())
    sys.stdout.write(f"wrote {sum(len(cases) for _, cases in NUMBERED)} files to {HERE}\n")


if __name__ == "__main__":
    main()
