"""One provider's file, read safely and checked, ready to store."""

from __future__ import annotations

from safeguard.config import Config
from safeguard.fgm.records import Submission, SubmissionUnreadable, check_submission, read_grid
from safeguard.forms.document import Document
from safeguard.forms.ooxml import Unreadable
from safeguard.service.carriers import zip_limits


def read_and_check(data: bytes, filename: str, config: Config, provider_code: str,
                   month_hint: str | None, document: Document | None = None) -> Submission:
    """Raises SubmissionUnreadable with a plain-English reason. `document`: the xlsx as intake's
    reader process read it, if it did."""
    try:
        grid, meta = read_grid(data, filename, zip_limits(config), document)
    except Unreadable as exc:
        raise SubmissionUnreadable(f"The file {exc}") from None
    has_own_month = bool(meta.get("reporting month (yyyy-mm)"))
    sub = check_submission(grid, meta, config.fgm, None if has_own_month else month_hint)
    if sub.organisation and sub.organisation.strip().upper() != provider_code:
        raise SubmissionUnreadable(f"The Submission sheet names organisation {sub.organisation.strip().upper()}, "
                                   f"but this came from {provider_code}. Correct the sheet, or send it from that "
                                   "organisation's safeguarding mailbox.")
    return sub
