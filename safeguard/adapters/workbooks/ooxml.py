"""Reading xlsx and docx forms safely: zip limits, no macros, no XML entities, no DTDs.

We read the few XML parts we need with defusedxml rather than a full office library: it is
faster, and every byte we decompress is counted against a limit first.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from xml.etree.ElementTree import XML

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from safeguard.adapters.workbooks.wordtables import table_rows
from safeguard.domain.forms.document import Document
from safeguard.domain.forms.raw import MAX_ROWS, Grid
from safeguard.domain.forms.values import RawValue

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE container: encrypted OOXML or legacy .xls/.doc
MAX_COLS = 60
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class Unreadable(Exception):
    """The document cannot be read safely. `dangerous` means quarantine rather than a plain reply."""

    def __init__(self, message: str, *, dangerous: bool = False) -> None:
        super().__init__(message)
        self.dangerous = dangerous


@dataclass(frozen=True)
class Limits:
    max_unzipped_bytes: int
    max_ratio: int
    max_sheets: int = 20  # visible sheets read from one workbook; later ones are left unread
    max_xml_bytes: int = 50 * 1024 * 1024  # XML parsed from one document, all parts together


class SafeZip:
    def __init__(self, data: bytes, limits: Limits) -> None:
        if data.startswith(CFB_MAGIC):
            raise Unreadable("is password-protected or in an old format (.xls/.doc). "
                             "Save it without a password as .xlsx or .docx and send it again.")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, ValueError, OSError):
            raise Unreadable("is damaged and cannot be opened. Save it again and resend it.") from None
        total = sum(i.file_size for i in infos)
        if (len(infos) > 2000 or total > limits.max_unzipped_bytes
                or total > limits.max_ratio * max(len(data), 1)):
            raise Unreadable("expands to far more data than a form can hold (a possible zip bomb).",
                             dangerous=True)
        self.names = {i.filename for i in infos}
        self.limits = limits
        self.parsed_bytes = 0

    def read(self, name: str) -> bytes:
        try:
            with self.zip.open(name) as handle:
                data = handle.read(self.limits.max_unzipped_bytes + 1)
        except KeyError:
            raise Unreadable("is missing part of its contents, so it is not a valid file.") from None
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError):
            raise Unreadable("is damaged and cannot be opened. Save it again and resend it.") from None
        if len(data) > self.limits.max_unzipped_bytes:
            raise Unreadable("expands to far more data than a form can hold (a possible zip bomb).",
                             dangerous=True)
        return data

    def xml(self, name: str):  # an ElementTree element
        data = self.read(name)
        self.parsed_bytes += len(data)
        if self.parsed_bytes > self.limits.max_xml_bytes:
            raise Unreadable("holds far more data than a form can hold.", dangerous=True)
        try:
            if _plainly_without_dtd(data):  # the C parser, about four times faster than defusedxml's
                return XML(data)
            return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException:
            raise Unreadable("contains XML entities or a DTD, which forms never need.",
                             dangerous=True) from None
        except Exception:  # noqa: BLE001 - any parser fault means the same thing to the sender
            raise Unreadable("is damaged and cannot be opened. Save it again and resend it.") from None

    def refuse_macros(self) -> None:
        content_types = self.read("[Content_Types].xml") if "[Content_Types].xml" in self.names else b""
        if any(n.lower().endswith("vbaproject.bin") for n in self.names) or b"macroEnabled" in content_types:
            raise Unreadable("contains macros. We only accept macro-free .xlsx or .docx files.",
                             dangerous=True)


_LETTERS = re.compile(r"[A-Z]+")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _plainly_without_dtd(data: bytes) -> bool:
    """True when the part is UTF-8 (or ASCII) and holds no DTD: then no entity can be declared, and
    a DTD could not hide from a byte search (in UTF-16 or an EBCDIC code page it could, so those go
    to defusedxml, which refuses a DTD however it is encoded)."""
    head = data[:200].removeprefix(b"\xef\xbb\xbf")
    if head.startswith((b"\xfe\xff", b"\xff\xfe")) or b"\x00" in head:
        return False
    declared = _DECLARED_ENCODING.match(head)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return False
    return b"<!DOCTYPE" not in data and b"<!ENTITY" not in data


def xlsx_grids(data: bytes, limits: Limits, max_rows: int = MAX_ROWS) -> list[Grid]:
    """Visible sheets as grids of raw values; a sheet longer than max_rows is cut there."""
    return [grid for _name, grid in xlsx_named_grids(data, limits, max_rows)]


def xlsx_named_grids(data: bytes, limits: Limits, max_rows: int = MAX_ROWS) -> list[tuple[str, Grid]]:
    book = SafeZip(data, limits)
    book.refuse_macros()
    shared = _shared_strings(book)
    return [(name, _sheet_grid(book.xml(path), shared, max_rows)) for name, path in _sheet_paths(book)]


def _sheet_paths(book: SafeZip) -> Iterator[tuple[str, str]]:
    """Each visible sheet's name and part, at most limits.max_sheets of them, and each part once:
    a workbook that lists one part many times (a way to make a reader parse it again and again)
    gets it read under its first name only."""
    workbook = book.xml("xl/workbook.xml")
    rels = book.xml("xl/_rels/workbook.xml.rels")
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_PKG_REL}Relationship")}
    seen: set[str] = set()
    for sheet in workbook.iter(f"{_S}sheet"):
        if sheet.get("state") in ("hidden", "veryHidden"):
            continue
        target = targets.get(sheet.get(f"{_R}id"), "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if path in book.names and path not in seen:
            seen.add(path)
            yield sheet.get("name", ""), path
            if len(seen) >= book.limits.max_sheets:
                return


def _shared_strings(book: SafeZip) -> list[str]:
    if "xl/sharedStrings.xml" not in book.names:
        return []
    root = book.xml("xl/sharedStrings.xml")
    return ["".join(t.text or "" for t in si.iter(f"{_S}t")) for si in root.iter(f"{_S}si")]


def _sheet_grid(root, shared: list[str], max_rows: int = MAX_ROWS) -> Grid:
    rows: list[list[RawValue]] = []
    for row in root.iter(f"{_S}row"):
        number = row.get("r", "")
        target = int(number) - 1 if number.isdigit() else len(rows)  # keep spreadsheet row numbers
        if target >= max_rows or len(rows) >= max_rows:
            break
        rows.extend([] for _ in range(target - len(rows)))
        cells: list[RawValue] = []
        for cell in row.iter(f"{_S}c"):
            col = _column(cell.get("r", "")) if cell.get("r") else len(cells)
            if col >= MAX_COLS:
                continue
            cells.extend([None] * (col - len(cells) + 1))
            cells[col] = _cell_value(cell, shared)
        rows.append(cells)
    return rows


def _cell_value(cell, shared: list[str]) -> RawValue:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_S}t"))
    v = cell.find(f"{_S}v")
    if v is None or v.text is None:
        return None
    if kind == "s":
        index = int(v.text) if v.text.isdigit() else -1
        return shared[index] if 0 <= index < len(shared) else None
    if kind == "n":
        try:
            return float(v.text)
        except ValueError:
            return None
    return v.text


@lru_cache(maxsize=8192)  # the same cell references (A1, B1, ...) come up in every form
def _column(ref: str) -> int:
    letters = _LETTERS.match(ref.upper())
    index = 0
    for ch in letters.group(0) if letters else "A":
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def docx_grids(data: bytes, limits: Limits) -> list[Grid]:
    """Each table of the document (nested ones too), read as wordtables.py says."""
    doc = SafeZip(data, limits)
    doc.refuse_macros()
    body = doc.xml("word/document.xml")
    return [table_rows(table, MAX_ROWS, MAX_COLS) for table in body.iter(f"{_W}tbl")]


def read_document(kind: str, data: bytes, limits: Limits, max_rows: int) -> Document:
    """Read an xlsx or docx in this process (the reader process runs this too)."""
    try:
        if kind == "xlsx":
            return Document(list(xlsx_named_grids(data, limits, max_rows)))
        return Document([("", grid) for grid in docx_grids(data, limits)])
    except Unreadable as exc:
        return Document(problem=str(exc), dangerous=exc.dangerous)
