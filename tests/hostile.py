"""Hostile and broken attachments, built on the fly."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from testkit import samples
from tests.factories import fields, people

XXE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
       b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&e;</t></si></sst>')
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
                     .encode()
                     for i in range(1, 10))
          + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>')


def valid_xlsx() -> bytes:
    return samples.xlsx_form(fields(), people())


def replace_part(document: bytes, name: str, data: bytes, *, add: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(document)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, data if item.filename == name and not add else src.read(item.filename))
        if add:
            dst.writestr(name, data)
    return out.getvalue()


def zip_bomb(megabytes: int = 80) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (megabytes * 1024 * 1024))
    return out.getvalue()


def xxe_xlsx() -> bytes:
    return replace_part(valid_xlsx(), "xl/workbook.xml", XXE)


def xxe_utf16_xlsx() -> bytes:
    """The same DTD in UTF-16, where a search for the bytes of "<!DOCTYPE" would not find it."""
    return replace_part(valid_xlsx(), "xl/workbook.xml",
                        XXE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
                        .decode().encode("utf-16"))


def xxe_ebcdic_xlsx() -> bytes:
    """The DTD in an EBCDIC code page, where "<!DOCTYPE" has other bytes too."""
    declaration, _, rest = XXE.partition(b"?>")
    return replace_part(valid_xlsx(), "xl/workbook.xml",
                        declaration.replace(b'version="1.0"', b'version="1.0" encoding="cp037"') + b"?>"
                        + rest.decode().encode("cp037"))


def billion_laughs_xlsx() -> bytes:
    return replace_part(valid_xlsx(), "xl/workbook.xml", LAUGHS)


def macro_inside_xlsx() -> bytes:
    return replace_part(valid_xlsx(), "xl/vbaProject.bin", b"\0" * 64, add=True)


def encrypted_office_file() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000


def corrupt_xlsx() -> bytes:
    return valid_xlsx()[:3000]


def repeated_sheet_xlsx(listings: int, pad_rows: int = 10_000) -> bytes:
    """A valid form whose workbook.xml also lists one large sheet part `listings` times: a reader
    that parses each listing again spends `listings` times the work on the same bytes."""
    ns_r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pad = "".join(f'<row r="{r}">' + "".join(f'<c r="{col}{r}"><v>{r}</v></c>' for col in "ABCD") + "</row>"
                  for r in range(1, pad_rows + 1))
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f"<sheetData>{pad}</sheetData></worksheet>").encode()
    with zipfile.ZipFile(io.BytesIO(valid_xlsx())) as z:
        workbook = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    extra = "".join(f'<sheet xmlns:r="{ns_r}" name="Copy {i}" sheetId="{i + 10}" state="visible" '
                    'r:id="rId99"/>'
                    for i in range(listings))
    workbook = workbook.replace("</sheets>", extra + "</sheets>")
    rels = rels.replace("</Relationships>", '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/'
                        '2006/relationships/worksheet" Target="/xl/worksheets/sheet9.xml" Id="rId99"/>'
                        "</Relationships>")
    document = replace_part(valid_xlsx(), "xl/workbook.xml", workbook.encode())
    document = replace_part(document, "xl/_rels/workbook.xml.rels", rels.encode())
    return replace_part(document, "xl/worksheets/sheet9.xml", sheet, add=True)


def deep_mime(depth: int, sender: str, to: str) -> bytes:
    """A message nested `depth` multiparts deep (built as text: the email package itself recurses
    once per level, and cannot write one this deep)."""
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: Health alert form\r\nMIME-Version: 1.0\r\n"
            f"Message-ID: <deep-{depth}@coventry-council.test>\r\nAuthentication-Results: "
            f"{samples.gateway_stamp(sender)}\r\n")
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                      for i in range(depth))
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nForm attached.\r\n" + closing).encode()


def png_bomb(side: int = 20_000) -> bytes:
    """A PNG of side x side pixels (400 million by default) that compresses to about 50 KB."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()
