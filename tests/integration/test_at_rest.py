"""Personal data at rest: nothing readable in the SQLite file or the PostgreSQL tables, keys can be
rotated, and the retention period erases closed alerts' personal data leaving counts and the chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from safeguard.adapters.register.audit import verify_session
from safeguard.adapters.register.crypto import DATA_KEYS, new_key
from safeguard.adapters.register.db import make_engine
from safeguard.adapters.register.keys import rotate_all
from safeguard.adapters.register.orm import Alert, AlertVersion, OutboxEntry
from safeguard.adapters.workbooks.fgm_template import fgm_file
from safeguard.service_layer import retention
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.retention import erase_all_expired, erase_expired
from testkit import samples
from testkit.fgm_synthetic import record
from tests.conftest import NOW, TODAY, put
from tests.factories import INBOX, SW, xlsx_submission
from tests.withdrawals import approve_withdrawal

SECRETS = [samples.SUBJECT_SURNAME, "Zephyrine", "Persephone", samples.CHILD_NHS, samples.MOTHER_NHS,
           "943 476 5919", samples.CHILD_POSTCODE, "Nowhere Lane", "1985-04-03", "03/04/1985",
           samples.subjects(TODAY)[0]["Date of birth"], "exploitation", "Wraithmoor-reason", "9434765870"]


def run(ctx: IntakeContext) -> list:
    return [process_message(m, ctx) for m in ctx.mailbox.list_new()]


def a_full_history(ctx: IntakeContext) -> str:
    put(ctx.mailbox, xlsx_submission())
    [result] = run(ctx)
    give_decision(ctx, result.reference, 1,
                  ApprovalRequest(True, "Dana Nightingale", note="Wraithmoor-reason note"))
    send_alert_email(ctx, result.reference)
    put(ctx.mailbox, samples.submission(SW, INBOX, subject=f"WITHDRAW {result.reference}",
                                        body="Reason: Other: found at Wraithmoor-reason, Nowhere Lane\n"))
    put(ctx.mailbox, samples.submission("safeguarding@uhcw.test", INBOX, subject="FGM 2026-10", attachments=[
        ("f.xlsx", fgm_file(ctx.config.fgm, [record("9434765870", date(2026, 10, 3), postcode="CV1 5FB")],
                            month="2026-10", organisation="UHCW"))]))
    run(ctx)
    approve_withdrawal(ctx, result.reference)
    return result.reference


def stored_text(url: str) -> str:
    """Everything the database holds, read around the product: file bytes, or every row as text."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")).decode("latin-1")
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        text_dump = "\n".join(str(row[0]) for t in tables
                              for row in conn.execute(text(f'SELECT t::text FROM "{t}" t')))
    engine.dispose()
    return text_dump


def test_no_personal_data_is_readable_in_the_database(intake_ctx: IntakeContext, register_url: str) -> None:
    a_full_history(intake_ctx)
    dump = stored_text(register_url)
    assert "HSA-2026-000001" in dump  # the scan does read the tables
    assert [s for s in SECRETS if s in dump] == []


def test_keys_rotate_and_the_old_key_can_then_go(intake_ctx: IntakeContext, register_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    a_full_history(intake_ctx)
    old, new = os.environ[DATA_KEYS], new_key()
    monkeypatch.setenv(DATA_KEYS, f"{new},{old}")
    engine = make_engine(register_url)
    counts = rotate_all(engine)
    engine.dispose()
    assert counts["alert_versions"] == 1 and counts["audit_log"] > 10 and counts["fgm_records"] == 1
    monkeypatch.setenv(DATA_KEYS, new)
    with intake_ctx.uow() as u:
        form = u.session.scalars(select(AlertVersion)).one().form
        assert form["subjects"][0]["surname"] == samples.SUBJECT_SURNAME
        assert all(e.raw for e in u.session.scalars(select(OutboxEntry)))
        assert verify_session(u.session).ok


def test_retention_erases_closed_alerts_and_keeps_counts_and_the_chain(intake_ctx: IntakeContext) -> None:
    ref = a_full_history(intake_ctx)
    put(intake_ctx.mailbox, xlsx_submission())  # a second alert, still active: kept
    run(intake_ctx)
    with intake_ctx.uow() as u:
        assert erase_expired(u, intake_ctx.config, NOW + timedelta(days=700)) == []
        erased = erase_expired(u, intake_ctx.config, NOW + timedelta(days=731))
        u.commit()
    assert erased == [ref]
    with intake_ctx.uow() as u:
        alert = u.register.alert(ref)
        assert alert is not None and alert.status == "WITHDRAWN"
        assert u.register.versions(alert)[0].form["erased"] is True
        assert u.register.versions(alert)[0].decision_note is None
        assert all(e.raw == b"" for e in u.register.outbox_for_alert(alert.id))
        assert u.session.scalar(select(func.count()).select_from(Alert)) == 2
        assert verify_session(u.session).ok
        other = u.register.alert("HSA-2026-000002")
        assert u.register.versions(other)[0].form["subjects"][0]["surname"] == samples.SUBJECT_SURNAME
    with intake_ctx.uow() as u:
        assert erase_expired(u, intake_ctx.config, datetime(2030, 1, 1, tzinfo=UTC)) == []  # once only


def test_a_night_with_many_alerts_to_erase_erases_them_a_batch_a_transaction(
        intake_ctx: IntakeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first night after an upgrade may have thousands to erase: a unit of work holding them all
    grows with them, so they go ERASE_BATCH at a time (here 2), each batch committed."""
    monkeypatch.setattr(retention, "ERASE_BATCH", 2)
    references = []
    for _ in range(5):
        put(intake_ctx.mailbox, xlsx_submission())
        [result] = run(intake_ctx)
        give_decision(intake_ctx, result.reference, 1, ApprovalRequest(False, "Dana Nightingale",
                                                                       "Not enough detail"))
        references.append(result.reference)
    commits = []
    real = intake_ctx.uow

    def counting():
        u = real()
        commit = u.commit
        u.commit = lambda: (commits.append(1), commit())[1]  # type: ignore[method-assign]
        return u
    erased = erase_all_expired(counting, intake_ctx.config, NOW + timedelta(days=731))
    assert erased == references and len(commits) == 3  # 2, 2 and the last 1
    with intake_ctx.uow() as u:
        assert all(v.form["erased"] for v in u.session.scalars(select(AlertVersion)))
        assert verify_session(u.session).ok
    assert erase_all_expired(intake_ctx.uow, intake_ctx.config, NOW + timedelta(days=732)) == []
