"""Finding the form in a message: an attached xlsx or docx wins; otherwise the body (text or HTML).

Pure rules over a message already read: an office attachment's tables were read beforehand, in a
process of their own (service/attachments.py `read_ahead`), and arrive as `attachment.document`."""

from __future__ import annotations

from safeguard.domain.config import Config
from safeguard.domain.forms.htmltext import html_to_lines
from safeguard.domain.forms.lines import from_lines
from safeguard.domain.forms.raw import MAX_ROWS, RawForm, from_grids
from safeguard.domain.message import Attachment, Inbound

FORM_EXTENSIONS = {"xlsx": "xlsx", "docx": "docx"}
MACRO_EXTENSIONS = {"xlsm", "xltm", "xlsb", "xlam", "docm", "dotm", "pptm"}
LEGACY_EXTENSIONS = {"xls", "doc"}
EXECUTABLE_EXTENSIONS = {"exe", "scr", "bat", "cmd", "com", "js", "jse", "vbs", "vbe", "ps1", "jar", "msi",
                         "hta", "lnk", "iso", "img", "wsf", "cpl"}
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
        return _read_attachment(candidate)
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


def _read_attachment(attachment: Attachment) -> RawForm:
    ext = attachment.extension
    if ext in LEGACY_EXTENSIONS:
        raise AttachmentRefused("is in an old format (.xls/.doc). Save it as .xlsx or .docx and send it "
                                "again.", attachment.filename)
    document = attachment.document
    if document is None:  # not read ahead (it was not the message's one office attachment)
        raise AttachmentRefused("could not be read", attachment.filename)
    if document.problem:
        raise AttachmentRefused(document.problem, attachment.filename)
    return from_grids(document.grids(MAX_ROWS), ext, strict=ext == "docx")


def overran(inbound: Inbound) -> bool:
    """Whether reading the message's attachment ran out of time or memory (see read_ahead)."""
    return any(a.document is not None and a.document.overran for a in inbound.attachments)


def find_data_file(inbound: Inbound, config: Config,
                   extensions: tuple[str, ...] = ("xlsx", "csv")) -> Attachment:
    """The one spreadsheet or CSV a data submission carries. Raises AttachmentRefused or TooManyForms;
    a message with none raises AttachmentRefused too, saying what to attach."""
    found = _the_one_attachment(inbound, config, extensions)
    if found is None:
        raise AttachmentRefused("is missing: attach the FGM submission template (.xlsx) or a CSV", "(none)")
    if found.extension in LEGACY_EXTENSIONS:
        raise AttachmentRefused("is in an old format (.xls). Save it as .xlsx and send it again.",
                                found.filename)
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
