from collections import Counter
from datetime import UTC, date, datetime

from sqlalchemy import event, select, update

from safeguard.adapters.register import audit
from safeguard.adapters.register.orm import Alert, AlertVersion, AuditEntry, InboundMessage, ReferenceCounter

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _write(uow, n: int = 3) -> None:
    with uow() as u:
        for i in range(n):
            u.register.audit(actor="system", action=f"step {i}", at=AT, alert_ref="HSA-2026-000001", n=i)
        u.commit()


def test_the_audit_chain_verifies_when_untouched(uow) -> None:
    _write(uow)
    with uow() as u:
        assert audit.verify_session(u.session).ok


def test_editing_an_audit_entry_breaks_the_chain_at_that_entry(uow) -> None:
    _write(uow)
    with uow() as u:
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone else"))
        u.commit()
    with uow() as u:
        report = audit.verify_session(u.session)
    assert (report.ok, report.broken_at) == (False, 2)


def test_deleting_the_last_audit_entry_is_detected(uow) -> None:
    _write(uow)
    with uow() as u:
        u.session.delete(u.session.get(AuditEntry, 3))
        u.commit()
    with uow() as u:
        assert not audit.verify_session(u.session).ok


def test_the_unit_of_work_rolls_back_unless_committed(uow) -> None:
    with uow() as u:
        u.register.next_reference("HSA", 2026)
    with uow() as u:
        assert u.session.scalars(select(ReferenceCounter)).first() is None


def test_references_are_numbered_per_year(uow) -> None:
    with uow() as u:
        refs = [u.register.next_reference("HSA", 2026), u.register.next_reference("HSA", 2026),
                u.register.next_reference("HSA", 2027)]
        u.commit()
    assert refs == ["HSA-2026-000001", "HSA-2026-000002", "HSA-2027-000001"]


def _message(key: str) -> InboundMessage:
    return InboundMessage(dedup_key=key, content_sha256="0" * 64, mailbox_id=key, received_at=AT,
                          kind="submission", outcome="accepted", folder="Processed", reason="valid",
                          problems=[], copies=1)


def _alert(reference: str) -> Alert:
    return Alert(reference=reference, status="AWAITING_APPROVAL", alert_type="missing-child",
                 urgency="urgent", created_at=AT, updated_at=AT, submitted_by="sw@example.test",
                 social_worker_email="sw@example.test", team_manager_email="tm@example.test",
                 review_date=date(2027, 1, 1), current_version=1)


def test_rows_have_their_ids_when_added_and_a_chunk_is_written_in_one_insert_a_table(uow) -> None:
    inserts: Counter[str] = Counter()
    with uow() as u:
        event.listen(u.session.get_bind(), "before_cursor_execute", lambda *a: inserts.update(
            [a[2].split()[2]] if a[2].startswith("INSERT") else []))
        for n in range(3):  # children added before their parents: the flush puts the parents first
            message = u.register.add(_message(f"key-{n}"))
            alert = _alert(f"HSA-2026-00000{n + 1}")
            version = u.register.add(AlertVersion(alert_id=0, version=1, status="proposed", form={},
                                                  inbound_id=message.id, created_at=AT))
            u.register.add(alert)
            version.alert_id = message.alert_id = alert.id
            assert None not in (message.id, alert.id, version.id)
        u.commit()
    assert inserts == {"inbound_messages": 1, "alerts": 1, "alert_versions": 1}
    with uow() as u:
        rows = u.session.execute(select(InboundMessage.alert_id, AlertVersion.alert_id).join(
            AlertVersion, AlertVersion.inbound_id == InboundMessage.id)).all()
    assert len(rows) == 3 and all(a == b for a, b in rows)


def test_ids_are_never_given_twice_across_rolled_back_and_committed_transactions(uow) -> None:
    with uow() as u:
        u.register.add(_message("rolled-back"))  # not committed: its id may come round again, unused
    with uow() as u:
        first = u.register.add(_message("first")).id
        u.session.add(_message("added without the register"))  # given its id just before the flush
        u.session.flush()
        second = u.register.add(_message("second")).id
        u.commit()
    with uow() as u:
        third = u.register.add(_message("third")).id
        u.commit()
        ids = u.session.scalars(select(InboundMessage.id)).all()
    assert len(ids) == len(set(ids)) == 4 and first < second < third
