"""A received email as the rules see it: plain data, built by the mail adapters (inbound.py reads
the message, bounces.py its delivery report, if it is one) and read by triage."""

from __future__ import annotations

from dataclasses import dataclass, field

from safeguard.domain.forms.document import Document
from safeguard.domain.forms.photos import PHOTO_EXTENSIONS, Photo


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    status: str  # e.g. "5.1.1"; "" when the report gives none
    diagnostic: str  # the receiving server's words, one line, trimmed; "" when none

    def describe(self) -> str:
        """Status and diagnostic for the register and the admin team: no message content."""
        return " ".join(part for part in (self.status, self.diagnostic) if part) or "no reason given"


@dataclass(frozen=True)
class Bounce:
    original_ids: tuple[str, ...]  # Message-IDs of the email that could not be delivered, "<...>"
    failed: tuple[FailedRecipient, ...]  # recipients that failed for good
    delayed: tuple[str, ...] = ()  # addresses still being tried (nothing to do)

    @property
    def first_failure(self) -> FailedRecipient | None:
        return self.failed[0] if self.failed else None


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    # read ahead (service/attachments.py)
    document: Document | None = field(default=None, compare=False, repr=False)
    undecoded_size: int | None = None  # set (and data left empty) when it was too large to be worth decoding
    inline: bool = False  # shown in the body by its Content-ID (a signature logo), not attached as a file
    photo: Photo | None = field(default=None, compare=False, repr=False)  # read ahead, re-encoded

    @property
    def is_image(self) -> bool:
        return self.extension in PHOTO_EXTENSIONS

    @property
    def size(self) -> int:
        return len(self.data) if self.undecoded_size is None else self.undecoded_size

    @property
    def extension(self) -> str:
        return self.filename.rpartition(".")[2].lower() if "." in self.filename else ""


@dataclass
class Inbound:
    message_id: str | None
    sender: str | None
    reply_to: str | None
    subject: str
    text_body: str | None
    html_body: str | None
    attachments: list[Attachment] = field(default_factory=list)
    header_faults: list[str] = field(default_factory=list)
    automatic: bool = False  # an out-of-office or other automatic reply: never a command or acknowledgement
    auth_results: tuple[str, ...] = ()  # Authentication-Results values, topmost first
    exchange_auth_as: str | None = None  # X-MS-Exchange-Organization-AuthAs, if present
    dedup_key: str = ""
    content_sha256: str = ""
    bounce: Bounce | None = None  # a delivery-status notification (read by bounces.py)
    deferred_before: int = 0  # times intake left it in INBOX already (service/deferrals.py)

    def photos(self) -> list[Attachment]:
        """The .jpg and .png files attached; when there are none, the pictures shown in the body
        (some mail programs put attached photos there; so do signatures, which is why triage
        counts these only when the form says Photo attached: Yes)."""
        images = [a for a in self.attachments if a.is_image]
        return [a for a in images if not a.inline] or images
