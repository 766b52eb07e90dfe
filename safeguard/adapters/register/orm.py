"""Tables of the register. Prefect can be wiped; these cannot."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from safeguard.adapters.register.crypto import EncryptedBytes, EncryptedJSON, EncryptedText


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on every database (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: the register stores aware datetimes only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def written_after(target: str, foreign_key: str) -> Any:
    """A relationship that nothing reads (reading it raises): it only tells the unit of work that this
    row's foreign key points at `target`, so that a flush INSERTs that row first. Rows get their ids
    before they are written (see ids.py), so a whole chunk of them goes to the database in one flush."""
    return relationship(target, foreign_keys=foreign_key, lazy="raise")


class InboundMessage(Base):
    """Every message that reached the mailbox, once, however many copies arrived."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998))
    mailbox_id: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str | None] = mapped_column(String(320))
    received_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    folder: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    problems: Mapped[list[Any]] = mapped_column(default=list)
    command: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())  # may hold a free-text reason
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    copies: Mapped[int] = mapped_column(Integer, default=1)
    filed_at: Mapped[datetime | None]
    _alert: Mapped[Alert | None] = written_after("Alert", "InboundMessage.alert_id")


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    alert_type: Mapped[str] = mapped_column(String(40))
    urgency: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(String(320))
    social_worker_email: Mapped[str] = mapped_column(String(320))
    team_manager_email: Mapped[str] = mapped_column(String(320))
    review_date: Mapped[date]
    current_version: Mapped[int] = mapped_column(Integer, default=1)  # the approved version providers hold
    dispatched_at: Mapped[datetime | None]  # first notices queued (receipt-to-dispatch time for returns)
    withdrawn_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]  # retention erased its personal data: the nightly run skips it


class AlertVersion(Base):
    """Each version of an alert's form, as received."""

    __tablename__ = "alert_versions"
    __table_args__ = (UniqueConstraint("alert_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    form: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # personal data: encrypted at rest
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime]
    approval_run_id: Mapped[str | None] = mapped_column(String(36))  # the Prefect flow run waiting on it
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(EncryptedText())
    decision_note: Mapped[str | None] = mapped_column(EncryptedText())
    left_out: Mapped[list[Any] | None]  # provider codes the approver left out
    # the form's earliest expected date of delivery (unborn baby), kept so reminders need not decrypt forms
    expected_delivery: Mapped[date | None]
    _alert: Mapped[Alert] = written_after("Alert", "AlertVersion.alert_id")
    _inbound: Mapped[InboundMessage | None] = written_after("InboundMessage", "AlertVersion.inbound_id")


class AlertPhoto(Base):
    """A photo sent with a version of an alert's form (Photo attached: Yes), re-encoded without its
    metadata (EXIF, GPS) and encrypted at rest. Erased with the alert's personal data (retention.py)."""

    __tablename__ = "alert_photos"
    __table_args__ = (UniqueConstraint("alert_id", "version", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... in the order attached
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(EncryptedBytes())
    created_at: Mapped[datetime]
    _alert: Mapped[Alert] = written_after("Alert", "AlertPhoto.alert_id")


class Delivery(Base):
    """One provider's copy of one alert: what it was last sent, and whether it answered."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "provider_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    provider_code: Mapped[str] = mapped_column(String(10))
    mailbox: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20))  # notified | withdrawn | failed
    version: Mapped[int] = mapped_column(Integer)  # the version of the last notice sent
    notice_key: Mapped[str] = mapped_column(String(200))  # outbox key of the last notice
    notified_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    chased_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # a delivery-status notification (bounce) said it never arrived
    failure: Mapped[str | None] = mapped_column(String(300))  # its status code and diagnostic, no content
    _alert: Mapped[Alert] = written_after("Alert", "Delivery.alert_id")


class IntakeDeferral(Base):
    """A message left in INBOX for the next run, and how often: after a few tries it is quarantined
    and the admin team told, so that nothing waits silently for ever."""

    __tablename__ = "intake_deferrals"
    mailbox_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    last_reason: Mapped[str] = mapped_column(String(200))  # the deferral reason: no message content


class WithdrawalRequest(Base):
    """A WITHDRAW by email waiting for the safeguarding team's decision, or a reinstatement.
    kind: withdraw | reinstate; status: pending | approved | declined | superseded."""

    __tablename__ = "withdrawal_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    kind: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(EncryptedText())  # "Other: ..." may hold case details
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    approval_run_id: Mapped[str | None] = mapped_column(String(36))  # the Prefect run waiting on it
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(EncryptedText())
    _alert: Mapped[Alert] = written_after("Alert", "WithdrawalRequest.alert_id")
    _inbound: Mapped[InboundMessage | None] = written_after("InboundMessage", "WithdrawalRequest.inbound_id")


class ApprovalCode(Base):
    """A one-time code sent to one approver for one alert version, kept only as a keyed hash. It
    approves or rejects that version by email once; a newer version or a decision ends it."""

    __tablename__ = "approval_codes"
    __table_args__ = (UniqueConstraint("alert_version_id", "approver_email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_version_id: Mapped[int] = mapped_column(ForeignKey("alert_versions.id"), index=True)
    approver_email: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    _version: Mapped[AlertVersion] = written_after("AlertVersion", "ApprovalCode.alert_version_id")


class ApprovalStage(Base):
    """One stage of a staged approval (alert_types.yaml approval_stages), given by one approver."""

    __tablename__ = "approval_stages"
    __table_args__ = (UniqueConstraint("alert_version_id", "stage"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_version_id: Mapped[int] = mapped_column(ForeignKey("alert_versions.id"), index=True)
    stage: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime]
    _version: Mapped[AlertVersion] = written_after("AlertVersion", "ApprovalStage.alert_version_id")


class ReferenceCounter(Base):
    __tablename__ = "reference_counters"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class OutboxBody(Base):
    """The stored email of an outbox entry, out of the outbox table that every job queries by status:
    scans of the outbox never read the bodies. Retention deletes it (the entry stays)."""

    __tablename__ = "outbox_bodies"
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True, autoincrement=False)
    raw: Mapped[bytes] = mapped_column(EncryptedBytes())  # the message as sent: encrypted at rest


class OutboxEntry(Base):
    """Every email the product sends, written before it is sent (created -> sending -> sent | failed).
    `raw`, the message itself, lives in OutboxBody and is read only when it is used."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    recipients: Mapped[list[Any]]
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process sending it
    claimed_at: Mapped[datetime | None]
    _alert: Mapped[Alert | None] = written_after("Alert", "OutboxEntry.alert_id")
    _inbound: Mapped[InboundMessage | None] = written_after("InboundMessage", "OutboxEntry.inbound_id")
    body: Mapped[OutboxBody | None] = relationship(cascade="all, delete-orphan", single_parent=True)

    @property
    def raw(self) -> bytes:
        """The message as sent (empty once retention has erased it)."""
        return self.body.raw if self.body is not None else b""

    @raw.setter
    def raw(self, value: bytes) -> None:
        if not value:
            self.body = None
        elif self.body is None:
            self.body = OutboxBody(raw=value)
        else:
            self.body.raw = value


class AuditEntry(Base):
    """Append-only; each entry's hash covers its content and the previous entry's hash."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    alert_ref: Mapped[str | None] = mapped_column(String(20), index=True)
    inbound_id: Mapped[int | None] = mapped_column(Integer, index=True)  # for one alert's export
    detail: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # may hold free text (reasons, notes)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    commitment: Mapped[str | None] = mapped_column(String(64))  # v2: HMAC of the detail (audit.py)
    erased_at: Mapped[datetime | None] = mapped_column(index=True)  # v2: the detail was erased then


class AuditHead(Base):
    """One row: the last sequence number and hash. Locked while appending, so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    v2_from: Mapped[int | None] = mapped_column(Integer)  # the first entry of chain v2 (audit.py)
    mac: Mapped[str | None] = mapped_column(String(64))  # HMAC of seq, hash and v2_from with the audit key


class AuditCheckpoint(Base):
    """The chain verified from its first entry through `seq`, whose hash was `hash` (MAC'd with the
    audit key): later checks start here instead of walking years of entries again."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime]
    mac: Mapped[str] = mapped_column(String(64))


class MailboxState(Base):
    """Adapter state that must survive restarts (EWS sync state, Graph delta link)."""

    __tablename__ = "mailbox_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FgmSubmission(Base):
    """One provider's file for one month. A later file for the same month replaces it."""

    __tablename__ = "fgm_submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_code: Mapped[str] = mapped_column(String(10))
    month: Mapped[str] = mapped_column(String(7), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(20))  # email | folder | command
    filename: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # accepted | partial | held | replaced
    rows_valid: Mapped[int] = mapped_column(Integer)
    rows_with_errors: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    replaced_by: Mapped[int | None] = mapped_column(Integer)
    status_before: Mapped[str | None] = mapped_column(String(20))  # its status before it was replaced
    _inbound: Mapped[InboundMessage | None] = written_after("InboundMessage", "FgmSubmission.inbound_id")


class FgmRecord(Base):
    """One attendance from a provider's submission, checked against config/fgm.yaml."""

    __tablename__ = "fgm_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("fgm_submissions.id"), index=True)
    provider_code: Mapped[str] = mapped_column(String(10))
    month: Mapped[str] = mapped_column(String(7), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    care_contact_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(10))  # counted | held | replaced
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # the attendance: encrypted at rest
    _submission: Mapped[FgmSubmission] = written_after("FgmSubmission", "FgmRecord.submission_id")


class ProviderDigest(Base):
    """One provider's weekly "alerts you hold" digest: references only, and whether it was confirmed."""

    __tablename__ = "provider_digests"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)  # HSA-DIGEST-2026W49-UHCW
    provider_code: Mapped[str] = mapped_column(String(10), index=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime]  # queued in the outbox
    active: Mapped[list[Any]]  # [{"reference", "alert_type", "urgency", "review_date", "version"}]
    withdrawn: Mapped[list[Any]]  # references withdrawn since the provider's last digest
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(320))
    chased_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]


class SubjectKey(Base):
    """A keyed hash (HMAC) of one subject of an alert: NHS number, or surname and date of birth when
    there is none. Links alerts about the same person without storing who they are."""

    __tablename__ = "subject_keys"
    # (key, id): the newest alerts sharing a key, read backwards from the newest (migration 0012)
    __table_args__ = (UniqueConstraint("alert_id", "key"), Index("ix_subject_keys_key_id", "key", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    _alert: Mapped[Alert] = written_after("Alert", "SubjectKey.alert_id")
