"""Finding the form in a message: an attached xlsx or docx wins; otherwise the body (text or HTML)."""

from __future__ import annotations

import dataclasses

from safeguard.config import Config
from safeguard.fgm.records import MAX_RECORDS
from safeguard.forms.document import OFFICE_KINDS, read_document
from safeguard.forms.htmltext import html_to_lines
from safeguard.forms.ooxml import MAX_ROWS, Limits
from safeguard.forms.raw import RawForm, from_grids, from_lines
from safeguard.forms.reader import ReaderLimits, reader_for
from safeguard.mail.inbound import Attachment, Inbound

FORM_EXTENSIONS = {"xlsx": "xlsx", "docx": "docx"}
MACRO_EXTENSIONS = {"xlsm", "xltm", "xlsb", "xlam", "docm", "dotm", "pptm"}
LEGACY_EXTENSIONS = {"xls", "doc"}
EXECUTABLE_EXTENSIONS = {"exe", "scr", "bat", "cmd", "com", "js", "jse", "vbs", "vbe", "ps1", "jar", "msi",
                         "hta", "lnk", "iso", "img", "wsf", "cpl"}
PHOTO_EXTENSIONS = {"jpg", "jpeg", "png"}
MB = 1024 * 1024


class AttachmentRefused(Exception):
    """An attachment that must not be opened: quarantine it and tell the admin team."""

    def __init__(self, explanation: str, filename: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.filename = filename


def find_form(inbound: Inbound, config: Config) -> RawForm | None:
    """The form the message carries, None if it carries none. Raises AttachmentRefused or
    TooManyForms for what cannot be used."""
    limits = config.settings.limits
    candidate = _the_one_attachment(inbound, config, tuple(FORM_EXTENSIONS))
    if candidate:
        return _read_attachment(candidate, zip_limits(config))
    if inbound.text_body and inbound.text_body.strip():
        form = from_lines(inbound.text_body.splitlines(), "email text", limits.max_body_lines)
    elif inbound.html_body:
        form = from_lines(html_to_lines(inbound.html_body), "email HTML", limits.max_body_lines)
    else:
        return None
    return form if form.looks_like_a_form() else None


class TooManyForms(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} forms attached")
        self.count = count


def _refuse_dangerous(attachment: Attachment, max_mb: float) -> None:
    ext = attachment.extension
    if attachment.size > max_mb * MB:
        raise AttachmentRefused(f"is larger than the {max_mb:g} MB limit", attachment.filename)
    if ext in MACRO_EXTENSIONS:
        raise AttachmentRefused("is a macro-enabled file, which we never open", attachment.filename)
    if ext in EXECUTABLE_EXTENSIONS:
        raise AttachmentRefused("is a program or script, which we never open", attachment.filename)


def _read_attachment(attachment: Attachment, limits: Limits) -> RawForm:
    ext = attachment.extension
    if ext in LEGACY_EXTENSIONS:
        raise AttachmentRefused("is in an old format (.xls/.doc). Save it as .xlsx or .docx and send it again.",
                                attachment.filename)
    document = attachment.document or read_document(ext, attachment.data, limits, MAX_ROWS)
    if document.problem:
        raise AttachmentRefused(document.problem, attachment.filename)
    return from_grids(document.grids(MAX_ROWS), ext)


def read_ahead(inbound: Inbound, config: Config) -> Inbound:
    """Read the message's one xlsx or docx (the only attachment triage may open) in this process's
    reader process, bounded in time and memory (safeguard/forms/reader.py), and keep what it read
    on the attachment for triage. Nothing to do for a message triage quarantines unread."""
    if inbound.header_faults:
        return inbound
    limits = config.settings.limits
    office = [i for i, a in enumerate(inbound.attachments)
              if a.extension in OFFICE_KINDS and a.size <= limits.max_attachment_mb * MB]
    if len(office) != 1:
        return inbound
    attachment = inbound.attachments[office[0]]
    reader = reader_for(ReaderLimits(limits.reader_seconds, limits.reader_memory_mb))
    document = reader.read(attachment.extension, attachment.data, zip_limits(config), MAX_RECORDS + 1)
    inbound.attachments[office[0]] = dataclasses.replace(attachment, document=document)
    return inbound


def overran(inbound: Inbound) -> bool:
    """Whether reading the message's attachment ran out of time or memory (see read_ahead)."""
    return any(a.document is not None and a.document.overran for a in inbound.attachments)


def find_data_file(inbound: Inbound, config: Config, extensions: tuple[str, ...] = ("xlsx", "csv")) -> Attachment:
    """The one spreadsheet or CSV a data submission carries. Raises AttachmentRefused or TooManyForms;
    a message with none raises AttachmentRefused too, saying what to attach."""
    found = _the_one_attachment(inbound, config, extensions)
    if found is None:
        raise AttachmentRefused("is missing: attach the FGM submission template (.xlsx) or a CSV", "(none)")
    if found.extension in LEGACY_EXTENSIONS:
        raise AttachmentRefused("is in an old format (.xls). Save it as .xlsx and send it again.", found.filename)
    return found


def _the_one_attachment(inbound: Inbound, config: Config, extensions: tuple[str, ...]) -> Attachment | None:
    """Refuse anything dangerous among the attachments, then the single one with a wanted (or legacy)
    extension, or None. Raises AttachmentRefused or TooManyForms."""
    files = []
    for attachment in inbound.attachments:
        _refuse_dangerous(attachment, config.settings.limits.max_attachment_mb)
        if attachment.extension in extensions or attachment.extension in LEGACY_EXTENSIONS:
            files.append(attachment)
    if len(files) > 1:
        raise TooManyForms(len(files))
    return files[0] if files else None


def zip_limits(config: Config) -> Limits:
    limits = config.settings.limits
    return Limits(int(limits.max_unzipped_mb * MB), limits.max_zip_ratio, limits.max_sheets,
                  int(limits.max_xml_mb * MB))
