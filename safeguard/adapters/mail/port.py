"""The mailbox port. Every adapter (Maildir, IMAP+SMTP, EWS, Graph) offers exactly this."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
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
    # Whether several processes may fetch, file and send for this mailbox at once (intake_pool).
    # Adapters that keep sync state in the register (Graph, EWS) say no: one process updates it.
    parallel_safe = False

    @abstractmethod
    def list_new(self, limit: int | None = None) -> list[str]:
        """Ids of the messages waiting in INBOX, oldest first."""

    @abstractmethod
    def fetch(self, mailbox_id: str) -> bytes | None:
        """The exact RFC 5322 bytes, or None when the message is no longer in INBOX."""

    @abstractmethod
    def arrivals(self) -> dict[str, datetime]:
        """When each message now in INBOX arrived (timezone-aware), by mailbox id: the ids are those
        list_new gives. One listing of INBOX (one request, or one per page of hundreds), reading
        nothing of any message and leaving list_new's sync state alone; for the nightly check that
        nothing waits in INBOX too long."""

    @abstractmethod
    def move(self, mailbox_id: str, folder: Folder) -> None:
        """Move from INBOX to folder. Moving a message that is already gone is not an error."""

    def fetch_many(self, mailbox_ids: list[str]) -> dict[str, bytes | None]:
        """fetch() of several messages; an adapter whose server takes them in one request overrides
        this. The caller bounds how many it asks for at once."""
        return {mailbox_id: self.fetch(mailbox_id) for mailbox_id in mailbox_ids}

    def sizes(self, mailbox_ids: list[str]) -> dict[str, int]:
        """The size in bytes of each of these messages in INBOX, where the adapter can tell cheaply
        ({} where it cannot): intake holds at most limits.chunk_mb of messages at once with it, and
        reads only the head of one over limits.max_message_mb."""
        return {}

    def fetch_head(self, mailbox_id: str, max_bytes: int) -> bytes | None:
        """At most the first max_bytes of the message (None when it is no longer in INBOX). This
        default fetches it whole and cuts it; an adapter that can read part of one overrides it."""
        raw = self.fetch(mailbox_id)
        return None if raw is None else raw[:max_bytes]

    def move_many(self, mailbox_ids: list[str], folder: Folder) -> None:
        """move() of several messages to one folder, with the same guarantees."""
        for mailbox_id in mailbox_ids:
            self.move(mailbox_id, folder)

    @abstractmethod
    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        """Deliver to recipients and keep a copy in Sent."""

    @abstractmethod
    def in_sent(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is already in Sent (so a retry must not resend)."""

    def file_sent_copies(self, mailbox_ids: list[str]) -> None:
        """File with Sent these copies of emails the mailbox sent that arrived in INBOX (an adapter
        that makes the mailbox a recipient of what it sends, as IMAP does, keeps Sent to one copy)."""
        self.move_many(mailbox_ids, Folder.SENT)

    @abstractmethod
    def folder_counts(self) -> dict[str, int]:
        """How many messages each folder holds."""

    @abstractmethod
    def message_ids(self, folder: Folder) -> list[str]:
        """The Message-ID header of every message in a folder ("" for a message without one),
        for the nightly reconciliation of mailbox and register."""

    @abstractmethod
    def _delete(self, folder: Folder, message_ids: set[str]) -> int:
        """delete_filed() for one folder other than INBOX."""

    def delete_filed(self, folder: Folder, message_ids: set[str]) -> int:
        """Delete the messages with these Message-IDs from a filing folder or Sent, for retention:
        the caller passes only messages whose outcome the register holds. Never INBOX (what is there
        has no outcome yet). Returns how many were deleted; a message already gone is not an error."""
        if folder == Folder.INBOX:
            raise ValueError("retention never deletes from INBOX")
        wanted = {m for m in message_ids if m}
        return self._delete(folder, wanted) if wanted else 0

    def wait_for_mail(self, seconds: float, poll_seconds: float = 5.0,
                      sleep: Callable[[float], None] = time.sleep) -> bool:
        """Return as soon as INBOX holds mail (True), or after `seconds` with none (False)."""
        deadline = time.monotonic() + seconds
        while True:
            if self.list_new(1):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._pause_for_mail(remaining, poll_seconds, sleep)

    def _pause_for_mail(self, remaining: float, poll_seconds: float, sleep: Callable[[float], None]) -> None:
        """Wait before looking again: this default sleeps `poll_seconds`; an adapter with push
        (IMAP IDLE) returns as soon as the server says mail arrived."""
        sleep(min(poll_seconds, remaining))

    def close(self) -> None:  # noqa: B027 - adapters without connections need nothing here
        """Release connections."""

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
