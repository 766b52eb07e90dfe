"""Migration 0011 on a register with history: email bodies move to their own table, expected delivery
dates are read once from the forms, erased alerts are marked; and it can be undone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect, select

from safeguard.adapters.register.db import MIGRATIONS, make_engine, migrate
from safeguard.adapters.register.orm import Alert, AlertVersion, OutboxEntry
from safeguard.adapters.register.uow import uow_factory
from safeguard.domain.config import Config
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.retention import erase_expired
from testkit import samples
from tests.conftest import put
from tests.factories import INBOX, SW

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EDD = date(2027, 1, 20)


def alembic(engine, action, revision: str) -> None:  # type: ignore[no-untyped-def]
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        action(cfg, revision)


def an_unborn_alert(ctx: IntakeContext) -> str:
    fields = samples.form_fields(NOW.date(), **{"Alert type": "Unborn baby",
                                                "Legal status": "Pre-birth plan"})
    people = [{"Role": "Unborn", "Surname": samples.SUBJECT_SURNAME,
               "Expected date of delivery": EDD.strftime("%d/%m/%Y")}, samples.subjects(NOW.date())[1]]
    put(ctx.mailbox, samples.submission(SW, INBOX, subject="Health alert",
                                        body=samples.text_form(fields, people)))
    [result] = [process_message(m, ctx) for m in ctx.mailbox.list_new()]
    assert result.outcome == "accepted", result
    give_decision(ctx, result.reference, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, result.reference)
    return str(result.reference)


def test_a_register_with_history_is_upgraded_and_downgraded_with_nothing_lost(
        config: Config, maildir, register_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(register_url)
    migrate(engine)
    ctx = IntakeContext(config, maildir, uow_factory(engine), lambda: NOW)
    ref = an_unborn_alert(ctx)
    with ctx.uow() as u:
        bodies = {e.key: e.raw for e in u.session.scalars(select(OutboxEntry))}
    assert len(bodies) >= 3 and all(bodies.values())

    alembic(engine, command.downgrade, "0006")  # as the register was before
    assert "outbox_bodies" not in inspect(engine).get_table_names()
    with engine.begin() as conn:  # and as a register that retention had erased long ago
        conn.exec_driver_sql("UPDATE alerts SET status = 'WITHDRAWN', withdrawn_at = updated_at")
    alembic(engine, command.upgrade, "head")

    with ctx.uow() as u:
        assert {e.key: e.raw for e in u.session.scalars(select(OutboxEntry))} == bodies
        version = u.session.scalars(select(AlertVersion)).one()
        assert version.expected_delivery == EDD
        alert = u.register.alert(ref)
        assert alert is not None and alert.erased_at is None  # not erased yet
        assert erase_expired(u, config, NOW + timedelta(days=800)) == [ref]
        u.commit()
    with ctx.uow() as u:
        alert = u.session.scalars(select(Alert)).one()
        assert alert.erased_at is not None
        assert all(e.raw == b"" for e in u.register.outbox_for_alert(alert.id))
        assert erase_expired(u, config, NOW + timedelta(days=801)) == []  # skipped, not read again
    engine.dispose()
