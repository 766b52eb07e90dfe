"""The mailbox port. Every adapter (Maildir, IMAP+SMTP, EWS, Graph) offers exactly this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum


class Folder(StrEnum):
    INBOX = "INBOX"
    PROCESSED = "Processed"
    REJECTED = "Rejected"
    QUARANTINE = "Quarantine"
    SENT = "Sent"


FILING_FOLDERS = (Folder.PROCESSED, Folder.REJECTED, Folder.QUARANTINE)


class MailboxError(Exception):
    """A mailbox operation failed. `retryable` says whether trying again later may succeed."""

    retryable = True


class TemporaryMailboxError(MailboxError):
    retryable = True


class PermanentMailboxError(MailboxError):
    retryable = False


class Mailbox(ABC):
    """A shared mailbox: new mail in INBOX, filing folders, and sending with a copy kept in Sent."""

    address: str

    @abstractmethod
    def list_new(self, limit: int | None = None) -> list[str]:
        """Ids of the messages waiting in INBOX, oldest first."""

    @abstractmethod
    def fetch(self, mailbox_id: str) -> bytes | None:
        """The exact RFC 5322 bytes, or None when the message is no longer in INBOX."""

    @abstractmethod
    def move(self, mailbox_id: str, folder: Folder) -> None:
        """Move from INBOX to folder. Moving a message that is already gone is not an error."""

    @abstractmethod
    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        """Deliver to recipients and keep a copy in Sent."""

    @abstractmethod
    def in_sent(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is already in Sent (so a retry must not resend)."""

    @abstractmethod
    def folder_counts(self) -> dict[str, int]:
        """How many messages each folder holds."""

    @abstractmethod
    def message_ids(self, folder: Folder) -> list[str]:
        """The Message-ID header of every message in a folder ("" for a message without one),
        for the nightly reconciliation of mailbox and register."""

    def close(self) -> None:  # noqa: B027 - adapters without connections need nothing here
        """Release connections."""

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
