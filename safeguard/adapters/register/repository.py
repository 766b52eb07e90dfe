"""The register's repository: the queries the use cases need, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safeguard.adapters.register import audit
from safeguard.adapters.register.ids import give_id
from safeguard.adapters.register.locks import locked_once
from safeguard.adapters.register.orm import (
    Alert,
    AlertVersion,
    ApprovalCode,
    ApprovalStage,
    Delivery,
    InboundMessage,
    MailboxState,
    OutboxEntry,
    ReferenceCounter,
)
from safeguard.domain.forms.model import HealthAlertForm
from safeguard.domain.status import (
    AlertStatus,
    DeliveryStatus,
    MessageKind,
    OutboxStatus,
    Outcome,
    VersionStatus,
)

UNSENT = ("created", "sending")
T = TypeVar("T")


class Register:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._added: dict[tuple[type, Any], Any] = {}

    def get(self, table: type[T], row_id: Any) -> T | None:
        """The row with this id, including one added in this session and not written yet (for which
        Session.get would first write everything pending)."""
        row = self._still_added((table, row_id))
        return row if row is not None else self.session.get(table, row_id)

    def _still_added(self, key: tuple[type, Any]) -> Any | None:
        """The row added under this key, unless a rolled-back savepoint has dropped it since."""
        row = self._added.get(key)
        return row if row is not None and row in self.session else None

    # inbound messages ------------------------------------------------------------------------
    def messages_by_keys(self, dedup_keys: list[str]) -> dict[str, InboundMessage]:
        rows = self.session.scalars(select(InboundMessage).where(InboundMessage.dedup_key.in_(dedup_keys)))
        return {row.dedup_key: row for row in rows}

    def lock(self, table: type, row_id: int | None) -> None:
        """Hold a row lock until commit, so concurrent transactions about the same row take turns."""
        if row_id is not None:
            self.session.get(table, row_id, with_for_update=True)

    def mark_filed(self, inbound_ids: list[int], at: datetime) -> None:
        self.session.execute(update(InboundMessage).where(InboundMessage.id.in_(inbound_ids),
                                                          InboundMessage.filed_at.is_(None)).values(filed_at=at))

    def add(self, row: Any) -> Any:
        """Add a row, with its id given now (see ids.py); it is written with the next flush."""
        give_id(self.session, row)
        self.session.add(row)
        self._added[(type(row), getattr(row, "id", None))] = row
        if isinstance(row, OutboxEntry):
            self._added[(OutboxEntry, row.key)] = row
        return row

    # alerts ----------------------------------------------------------------------------------
    def alert(self, reference: str) -> Alert | None:
        return self.session.scalars(select(Alert).where(Alert.reference == reference.upper())).first()

    def alert_reference(self, alert_id: int | None) -> str | None:
        alert = self.get(Alert, alert_id) if alert_id is not None else None
        return alert.reference if alert else None

    def alert_references(self, alert_ids: set[int | None]) -> dict[int, str]:
        wanted = [i for i in alert_ids if i is not None]
        if not wanted:
            return {}
        rows = self.session.execute(select(Alert.id, Alert.reference).where(Alert.id.in_(wanted)))
        return {alert_id: reference for alert_id, reference in rows}

    def alert_version(self, alert: Alert, version: int) -> AlertVersion | None:
        return self.session.scalars(select(AlertVersion).where(
            AlertVersion.alert_id == alert.id, AlertVersion.version == version)).first()

    def form(self, version: AlertVersion) -> HealthAlertForm:
        """The form a version holds, read back from its stored JSON (not for an erased version)."""
        return HealthAlertForm.from_json(version.form)

    def versions(self, alert: Alert) -> list[AlertVersion]:
        return list(self.session.scalars(select(AlertVersion).where(AlertVersion.alert_id == alert.id)
                                         .order_by(AlertVersion.version)))

    def latest_version_number(self, alert: Alert) -> int:
        versions = self.session.scalars(select(AlertVersion.version).where(AlertVersion.alert_id == alert.id))
        return max(versions, default=0)

    def pending_version(self, alert: Alert) -> AlertVersion | None:
        """The newest version still waiting for a decision, if any."""
        return self.session.scalars(select(AlertVersion).where(
            AlertVersion.alert_id == alert.id, AlertVersion.status == VersionStatus.PROPOSED)
            .order_by(AlertVersion.version.desc())).first()

    def approval_stages(self, version: AlertVersion) -> list[ApprovalStage]:
        return list(self.session.scalars(select(ApprovalStage)
                                         .where(ApprovalStage.alert_version_id == version.id)
                                         .order_by(ApprovalStage.id)))

    def approval_code(self, version: AlertVersion, approver_email: str) -> ApprovalCode | None:
        return self.session.scalars(select(ApprovalCode).where(
            ApprovalCode.alert_version_id == version.id,
            ApprovalCode.approver_email == approver_email)).first()

    def versions_awaiting_decision(self) -> list[tuple[Alert, AlertVersion]]:
        rows = self.session.execute(select(Alert, AlertVersion)
                                    .join(AlertVersion, AlertVersion.alert_id == Alert.id)
                                    .where(AlertVersion.status == VersionStatus.PROPOSED)
                                    .order_by(AlertVersion.id))
        return [(a, v) for a, v in rows]

    def active_alerts(self, review_before: date | None = None) -> list[Alert]:
        """Active alerts (with review_before: only those whose review date is before it)."""
        query = select(Alert).where(Alert.status == AlertStatus.ACTIVE)
        if review_before is not None:
            query = query.where(Alert.review_date < review_before)
        return list(self.session.scalars(query.order_by(Alert.id)))

    def deliveries_to_chase(self, sent_before: datetime | None) -> list[tuple[Alert, Delivery]]:
        """Unacknowledged notices of active alerts (sent before `sent_before`, and not both chased and
        escalated already: the rest have nothing left to remind anyone of)."""
        query = (select(Alert, Delivery).join(Delivery, Delivery.alert_id == Alert.id)
                 .where(Alert.status == AlertStatus.ACTIVE, Delivery.status == DeliveryStatus.NOTIFIED,
                        Delivery.acknowledged_at.is_(None)))
        if sent_before is not None:
            query = query.where(Delivery.notified_at < sent_before,
                                or_(Delivery.chased_at.is_(None), Delivery.escalated_at.is_(None)))
        return [(a, d) for a, d in self.session.execute(query.order_by(Delivery.id))]

    def active_expected_deliveries(self, on_or_before: date) -> list[tuple[Alert, date | None]]:
        """Active alerts whose approved form expects a birth on or before this day (stored with the
        version: no form is decrypted)."""
        rows = self.session.execute(select(Alert, AlertVersion.expected_delivery)
                                    .join(AlertVersion, (AlertVersion.alert_id == Alert.id)
                                          & (AlertVersion.version == Alert.current_version))
                                    .where(Alert.status == AlertStatus.ACTIVE,
                                           AlertVersion.expected_delivery <= on_or_before)
                                    .order_by(Alert.id))
        return [(a, edd) for a, edd in rows]

    def invalid_submissions_since(self, since: datetime) -> list[InboundMessage]:
        return list(self.session.scalars(select(InboundMessage).where(
            InboundMessage.outcome == Outcome.INVALID, InboundMessage.kind == MessageKind.SUBMISSION,
            InboundMessage.received_at >= since).order_by(InboundMessage.id)))

    def accepted_from_since(self, sender: str, since: datetime) -> bool:
        return self.session.scalars(select(InboundMessage.id).where(
            InboundMessage.sender == sender, InboundMessage.outcome.in_(("accepted", "recorded")),
            InboundMessage.received_at > since).limit(1)).first() is not None

    def deliveries(self, alert: Alert) -> list[Delivery]:
        return list(self.session.scalars(select(Delivery).where(Delivery.alert_id == alert.id)
                                         .order_by(Delivery.id)))

    def delivery(self, alert: Alert, provider_code: str) -> Delivery | None:
        return self.session.scalars(select(Delivery).where(
            Delivery.alert_id == alert.id, Delivery.provider_code == provider_code)).first()

    def inbound(self, inbound_id: int | None) -> InboundMessage | None:
        return self.get(InboundMessage, inbound_id) if inbound_id is not None else None

    def next_reference(self, prefix: str, year: int) -> str:
        """HSA-YYYY-NNNNNN, numbered per year; the counter row is locked so two workers never share one."""
        counter = locked_once(self.session, f"safeguard.reference_counter.{year}",
                              lambda: self._counter(year))
        counter.last += 1
        return f"{prefix}-{year}-{counter.last:06d}"

    def _counter(self, year: int) -> ReferenceCounter:
        query = select(ReferenceCounter).where(ReferenceCounter.year == year).with_for_update()
        with self.session.no_autoflush:  # nothing pending can change the counter: no need to write it first
            counter = self.session.scalars(query).first()
        if counter is None:
            try:  # the first reference of a year: another worker may be creating the row too
                with self.session.begin_nested():
                    self.session.add(ReferenceCounter(year=year, last=0))
            except IntegrityError:
                pass
            counter = self.session.scalars(query).one()
        return counter

    # outbox ----------------------------------------------------------------------------------
    def outbox_entry(self, key: str, *, unused_key: bool = False) -> OutboxEntry | None:
        """The entry with this key, written or only added in this session. With unused_key (a key
        made from the id of a row added in this transaction, which no entry can have used), the
        database is not asked."""
        row = self._still_added((OutboxEntry, key))
        if row is not None:
            return row  # type: ignore[no-any-return]
        if unused_key:
            return None
        with self.session.no_autoflush:  # what is added was looked at above
            return self.session.scalars(select(OutboxEntry).where(OutboxEntry.key == key)).first()

    def outbox_keys(self, keys: list[str]) -> set[str]:
        """Which of these keys the outbox holds already (one indexed query a thousand keys)."""
        found: set[str] = set()
        for start in range(0, len(keys), 1000):
            found.update(self.session.scalars(select(OutboxEntry.key).where(
                OutboxEntry.key.in_(keys[start:start + 1000]))))
        return found

    def attempted_message_ids(self, message_ids: set[str]) -> set[str]:
        """Which of these Message-IDs are of emails we have tried to send (any but one "created" and
        never tried: only we, and the recipients of one that went, can know such an unguessable id)."""
        return set(self.session.scalars(select(OutboxEntry.message_id).where(
            OutboxEntry.message_id.in_(sorted(message_ids)),
            or_(OutboxEntry.status != OutboxStatus.CREATED, OutboxEntry.attempts > 0))))

    def is_new(self, row: Any) -> bool:
        """Whether the row was added in this transaction and is not in the database yet."""
        return bool(inspect(row).pending)

    def outbox_entries_for_update(self, entry_ids: list[int], *,
                                  skip_locked: bool = False) -> list[OutboxEntry]:
        """These entries, locked until commit, in id order (one order for every process: no deadlock);
        with skip_locked, those another transaction holds now are left out instead of waited for.
        Each message itself is read (and decrypted) only if it is used, and not again for an entry
        this session holds already."""
        return list(self.session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(entry_ids))
                                         .order_by(OutboxEntry.id).with_for_update(skip_locked=skip_locked)))

    def outbox_claims(self, entry_ids: list[int]) -> dict[int, tuple[str, str | None, datetime | None]]:
        """Each entry's status, claimant and claim time, read without locking anything."""
        rows = self.session.execute(select(OutboxEntry.id, OutboxEntry.status, OutboxEntry.claimed_by,
                                           OutboxEntry.claimed_at).where(OutboxEntry.id.in_(entry_ids)))
        return {row.id: (row.status, row.claimed_by, row.claimed_at) for row in rows}

    def unsent_ids_for_messages(self, inbound_ids: list[int]) -> list[int]:
        return list(self.session.scalars(select(OutboxEntry.id).where(
            OutboxEntry.inbound_id.in_(inbound_ids), OutboxEntry.status.in_(UNSENT))
            .order_by(OutboxEntry.id)))

    def unsent_ids(self, after: int = 0, limit: int = 500) -> list[int]:
        """Ids of unsent entries after this id, oldest first (a page of the queue; no bodies read)."""
        return list(self.session.scalars(select(OutboxEntry.id).where(
            OutboxEntry.status.in_(UNSENT), OutboxEntry.id > after).order_by(OutboxEntry.id).limit(limit)))

    def unsent_ids_for_alert(self, alert_id: int, after: int = 0) -> list[int]:
        return list(self.session.scalars(select(OutboxEntry.id).where(
            OutboxEntry.alert_id == alert_id, OutboxEntry.status.in_(UNSENT), OutboxEntry.id > after)
            .order_by(OutboxEntry.id)))

    def unsent_for_alert(self, alert_id: int) -> list[OutboxEntry]:
        return list(self.session.scalars(select(OutboxEntry).where(
            OutboxEntry.alert_id == alert_id, OutboxEntry.status.in_(UNSENT)).order_by(OutboxEntry.id)))

    def outbox_for_alert(self, alert_id: int) -> list[OutboxEntry]:
        return list(self.session.scalars(select(OutboxEntry).where(OutboxEntry.alert_id == alert_id)
                                         .order_by(OutboxEntry.id)))

    # audit -----------------------------------------------------------------------------------
    def lock_audit(self) -> None:
        """Take the audit chain's lock now, for a transaction about to append in savepoints."""
        audit.lock_head(self.session)

    def audit(self, *, actor: str, action: str, at: datetime, alert_ref: str | None = None,
              inbound_id: int | None = None, **detail: Any) -> None:
        audit.append(self.session, actor=actor, action=action, at=at, alert_ref=alert_ref,
                     inbound_id=inbound_id, detail=detail)


class RegisterState:
    """Mailbox adapter state (e.g. Graph's delta link) kept in the register, committed at once."""

    def __init__(self, uow: Callable[[], Any]) -> None:
        self._uow = uow

    def get(self, name: str) -> str | None:
        with self._uow() as u:
            row = u.session.get(MailboxState, name)
            return row.value if row else None

    def set(self, name: str, value: str) -> None:
        with self._uow() as u:
            row = u.session.get(MailboxState, name, with_for_update=True)
            if row is None:
                u.session.add(MailboxState(name=name, value=value))
            else:
                row.value = value
            u.commit()
