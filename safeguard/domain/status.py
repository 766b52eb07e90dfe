"""Every status and outcome the register stores, as StrEnums: each member *is* its string, so rows
written before these existed read back equal and the columns stay plain text (no migration).
docs/design.md, "The alert lifecycle", draws how an alert moves between its statuses."""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


AWAITING_APPROVAL = AlertStatus.AWAITING_APPROVAL
ACTIVE = AlertStatus.ACTIVE
REJECTED = AlertStatus.REJECTED
WITHDRAWN = AlertStatus.WITHDRAWN


class VersionStatus(StrEnum):
    """One version of an alert's form: proposed until decided; an undecided one is superseded by a
    newer form, and withdrawn with its alert."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class DeliveryStatus(StrEnum):
    """What a provider holds: notified of the alert, told of its withdrawal, or never reached (bounced)."""

    NOTIFIED = "notified"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class Outcome(StrEnum):
    """What intake did with one message (InboundMessage.outcome and IntakeResult.outcome). The first
    four are triage's decisions and are stored; the rest are results of a run only."""

    ACCEPTED = "accepted"
    INVALID = "invalid"
    RECORDED = "recorded"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"  # seen before: filed again, nothing recorded
    DEFERRED = "deferred"  # could not be finished now: left in INBOX for the next run
    GONE = "gone"  # no longer in INBOX (another run took it)
    OWN_COPY = "own-copy"  # the mailbox's copy of an email it sent (IMAP): filed with Sent, nothing recorded


class MessageKind(StrEnum):
    """What triage found an inbound message to be (InboundMessage.kind)."""

    SUBMISSION = "submission"
    UPDATE = "update"
    WITHDRAW = "withdraw"
    EXTEND = "extend"
    ACKNOWLEDGEMENT = "acknowledgement"
    APPROVAL = "approval"  # a listed approver's APPROVE or REJECT by email
    SEEN = "seen"  # a provider has seen the subject of an alert it holds
    DIGEST_CONFIRM = "digest-confirm"  # a provider confirms its weekly "alerts you hold" digest
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    FGM = "fgm"
    UNKNOWN = "unknown"


class RequestKind(StrEnum):
    """What a WithdrawalRequest asks for."""

    WITHDRAW = "withdraw"
    REINSTATE = "reinstate"


class RequestStatus(StrEnum):
    """A WithdrawalRequest: pending until the safeguarding team decides; superseded when the alert's
    state makes it moot."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    SUPERSEDED = "superseded"


class FgmSubmissionStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTIAL = "partial"  # some rows had errors: the rest are counted
    HELD = "held"  # errors, and config says hold the whole file
    REPLACED = "replaced"  # a later file for the same provider and month replaced it


class FgmRecordStatus(StrEnum):
    COUNTED = "counted"
    HELD = "held"
    REPLACED = "replaced"  # its submission was replaced: kept, left out of the returns, restorable


class OutboxStatus(StrEnum):
    """An outbox entry as stored: created -> sending -> sent, or failed (permanent), or back to
    created (temporary). See safeguard/adapters/notify/outbox.py."""

    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
