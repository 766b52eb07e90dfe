"""Audit chain v2: keyed commitments make details erasable and history unforgeable without the audit key;
v1 chains continue as v2 from a marked entry; checkpoints let checks start where the last one ended."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update

from safeguard.adapters.register import audit
from safeguard.adapters.register.audit_check import (
    CHANGED,
    checkpoint,
    prove_entries,
    verify_full,
    verify_incremental,
)
from safeguard.adapters.register.orm import AuditCheckpoint, AuditEntry, AuditHead
from safeguard.adapters.register.uow import UnitOfWork
from tests.conftest import NOW


def some_entries(uow: Callable[[], UnitOfWork], count: int = 5, start: int = 0) -> None:
    with uow() as u:
        for n in range(start, start + count):
            u.register.audit(actor="Dana", action="alert approved", at=NOW + timedelta(minutes=n),
                             alert_ref=f"HSA-2026-{n:06d}", note=f"note {n} about Wraithmoor")
        u.commit()


def test_rewriting_a_detail_and_its_commitment_with_only_the_data_key_is_detected(
        uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow)
    with uow() as u:  # the forger holds the data key (the ORM encrypts for them) but not the audit key
        forged = {"note": "nothing to see"}
        guess = hashlib.sha256(json.dumps(forged, sort_keys=True).encode()).hexdigest()
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 3)
                          .values(detail=forged, commitment=guess))
        u.commit()
    with uow() as u:
        report = verify_full(u.session)
    assert not report.ok and report.broken_at == 3 and "changed" in report.reason


def test_rewriting_a_detail_alone_is_detected(uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow)
    with uow() as u:
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(detail={"note": "other"}))
        u.commit()
    with uow() as u:
        assert verify_full(u.session).broken_at == 2


def test_an_erased_detail_leaves_the_chain_intact_and_is_reported(uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow)
    with uow() as u:
        assert audit.erase_details(u.session, [2, 4], NOW) == 2
        u.commit()
    with uow() as u:
        report = verify_full(u.session)
        assert report.ok and report.erased == [2, 4]
        assert "Wraithmoor" not in str(u.session.get(AuditEntry, 2).detail)


def test_a_detail_removed_without_the_audit_key_is_not_taken_for_an_erasure(
        uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow)
    with uow() as u:
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(detail={}, erased_at=NOW))
        u.commit()
    with uow() as u:
        report = verify_full(u.session)
    assert report.broken_at == 3 and "without the audit key" in report.reason


def test_cutting_entries_off_the_end_and_resetting_the_head_is_detected(
        uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow)
    with uow() as u:
        fourth = u.session.get(AuditEntry, 4)
        u.session.execute(update(AuditHead).values(seq=4, hash=fourth.hash))
        u.session.execute(AuditEntry.__table__.delete().where(AuditEntry.seq == 5))
        u.commit()
    with uow() as u:
        report = verify_full(u.session)
    assert not report.ok and "head" in report.reason


def test_a_v1_chain_is_verified_then_continued_as_v2_from_a_marked_entry(
        uow: Callable[[], UnitOfWork]) -> None:
    with uow() as u:  # a register written before v2: sha256 over plaintext, no v2_from
        head = u.session.get(AuditHead, 1)
        prev = audit.GENESIS
        for seq in (1, 2, 3):
            at, detail = NOW + timedelta(minutes=seq), {"reason": f"old {seq}"}
            digest = audit.v1_digest(prev, seq, at, "system", "alert received", None, None, detail)
            u.session.add(AuditEntry(seq=seq, at=at, actor="system", action="alert received", detail=detail,
                                     prev_hash=prev, hash=digest))
            prev = digest
        head.seq, head.hash, head.v2_from = 3, prev, None
        u.commit()
    some_entries(uow, 2)
    with uow() as u:
        marker = u.session.get(AuditEntry, 4)
        assert marker.action == audit.UPGRADED and marker.detail == {"v1_entries": 3, "v1_intact": True,
                                                                     "v1_broken_at": None}
        assert u.session.get(AuditHead, 1).v2_from == 4 and verify_full(u.session).ok
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(detail={"reason": "edited"}))
        u.commit()
    with uow() as u:
        assert verify_full(u.session).broken_at == 2


def test_verify_starts_at_the_last_checkpoint_and_a_full_check_still_walks_everything(
        uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow, 6)
    with uow() as u:
        assert checkpoint(u.session, verify_incremental(u.session), NOW) is not None
        u.commit()
    some_entries(uow, 3, start=6)
    with uow() as u:
        report = verify_incremental(u.session)
        assert report.ok and (report.from_seq, report.entries) == (7, 3)
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(detail={"note": "other"}))
        u.commit()
    with uow() as u:
        assert verify_incremental(u.session).ok  # before the checkpoint: only the full check walks there
        assert verify_full(u.session).broken_at == 2


def test_a_checkpoint_forged_without_the_audit_key_is_detected(uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow, 4)
    with uow() as u:
        third = u.session.get(AuditEntry, 3)
        u.session.add(AuditCheckpoint(seq=3, hash=third.hash, made_at=NOW, mac="0" * 64))
        u.commit()
    with uow() as u:
        assert "checkpoint" in verify_incremental(u.session).reason
        assert "checkpoint" in verify_full(u.session).reason


def test_one_alerts_entries_are_proved_without_walking_the_chain(uow: Callable[[], UnitOfWork]) -> None:
    some_entries(uow, 6)
    with uow() as u:
        checkpoint(u.session, verify_full(u.session), NOW)
        u.commit()
    with uow() as u:
        mine = list(u.session.scalars(select(AuditEntry).where(AuditEntry.alert_ref == "HSA-2026-000003")))
        proof = prove_entries(u.session, mine)
        assert proof.ok and proof.checked == 1 and proof.checkpoint is not None
        u.session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(actor="Someone else"))
        u.commit()
    with uow() as u:
        mine = list(u.session.scalars(select(AuditEntry).where(AuditEntry.alert_ref == "HSA-2026-000003")))
        assert prove_entries(u.session, mine).faults == {4: CHANGED}


