from datetime import UTC, datetime

from sqlalchemy import select, update

from safeguard.register import audit
from safeguard.register.orm import AuditEntry, ReferenceCounter

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _write(uow, n: int = 3) -> None:  # noqa: ANN001
    with uow() as u:
        for i in range(n):
            u.register.audit(actor="system", action=f"step {i}", at=AT, alert_ref="HSA-2026-000001", n=i)
        u.commit()


def test_the_audit_chain_verifies_when_untouched(uow) -> None:  # noqa: ANN001
    _write(uow)
    with uow() as u:
        assert audit.verify_session(u.session).ok


def test_editing_an_audit_entry_breaks_the_chain_at_that_entry(uow) -> None:  # noqa: ANN001
    _write(uow)
    with uow() as u:
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone else"))
        u.commit()
    with uow() as u:
        report = audit.verify_session(u.session)
    assert (report.ok, report.broken_at) == (False, 2)


def test_deleting_the_last_audit_entry_is_detected(uow) -> None:  # noqa: ANN001
    _write(uow)
    with uow() as u:
        u.session.delete(u.session.get(AuditEntry, 3))
        u.commit()
    with uow() as u:
        assert not audit.verify_session(u.session).ok


def test_the_unit_of_work_rolls_back_unless_committed(uow) -> None:  # noqa: ANN001
    with uow() as u:
        u.register.next_reference("HSA", 2026)
    with uow() as u:
        assert u.session.scalars(select(ReferenceCounter)).first() is None


def test_references_are_numbered_per_year(uow) -> None:  # noqa: ANN001
    with uow() as u:
        refs = [u.register.next_reference("HSA", 2026), u.register.next_reference("HSA", 2026),
                u.register.next_reference("HSA", 2027)]
        u.commit()
    assert refs == ["HSA-2026-000001", "HSA-2026-000002", "HSA-2027-000001"]
