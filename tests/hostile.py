"""Hostile and broken attachments, built on the fly."""

from __future__ import annotations

import io
import zipfile

from safeguard import samples
from tests.factories import fields, people

XXE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
       b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&e;</t></si></sst>')
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
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
                        XXE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16"))


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
