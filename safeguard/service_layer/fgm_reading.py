"""One provider's file, read safely and checked, ready to store."""

from __future__ import annotations

from safeguard.adapters.workbooks.ooxml import read_document
from safeguard.domain.config import Config
from safeguard.domain.fgm import MAX_RECORDS, Submission, check_file
from safeguard.domain.forms.document import Document
from safeguard.service_layer.attachments import zip_limits


def read_and_check(data: bytes, filename: str, config: Config, provider_code: str,
                   month_hint: str | None, document: Document | None = None) -> Submission:
    """Raises SubmissionUnreadable with a plain-English reason. `document`: the xlsx as intake's
    reader process read it, if it did; otherwise it is read here (a file from the drop folder)."""
    if document is None and not filename.lower().endswith(".csv"):
        document = read_document("xlsx", data, zip_limits(config), MAX_RECORDS + 1)
    return check_file(data, filename, config, provider_code, month_hint, document)
