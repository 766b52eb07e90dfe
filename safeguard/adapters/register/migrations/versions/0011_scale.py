"""scale: indexes for the daily and nightly jobs, stored email bodies in a side table, stored expected
delivery dates, and a mark on alerts whose personal data retention has erased

Revision ID: 0011
Revises: 0010

Each index below names the query it serves (the jobs' own functions). Without them SQLite and
PostgreSQL scan the whole table for each, and the scans grow with years of history.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES: list[tuple[str, str, list[str]]] = [
    # Register.unsent (send_unsent, every job that sends): WHERE status IN ('created', 'sending');
    # reconcile's unsent and failed emails.
    ("ix_outbox_status", "outbox", ["status"]),
    # Register.unsent_ids_for_messages (intake, after every chunk):
    # WHERE inbound_id IN (...) AND status IN (...)
    ("ix_outbox_inbound_id_status", "outbox", ["inbound_id", "status"]),
    # Register.deliveries_to_chase (reminders' chase and escalation):
    # WHERE status = 'notified' AND acknowledged_at IS NULL
    ("ix_deliveries_status_acknowledged_at", "deliveries", ["status", "acknowledged_at"]),
    # Register.active_alerts, reminders' review queries (status = 'ACTIVE' AND review_date BETWEEN ...),
    # reconcile's withdrawn/active joins, retention (status = 'WITHDRAWN' ...)
    ("ix_alerts_status_review_date", "alerts", ["status", "review_date"]),
    # retention.erase_expired: WHERE erased_at IS NULL AND ... (alerts not erased yet)
    ("ix_alerts_erased_at", "alerts", ["erased_at"]),
    # retention and the audit export: inbound_messages WHERE alert_id = ?
    ("ix_inbound_messages_alert_id", "inbound_messages", ["alert_id"]),
    # Register.accepted_from_since (reminders' resubmit nudge): WHERE sender = ? AND received_at > ?
    ("ix_inbound_messages_sender_received_at", "inbound_messages", ["sender", "received_at"]),
    # Register.invalid_submissions_since (reminders): WHERE outcome = 'invalid' AND received_at >= ?
    ("ix_inbound_messages_outcome_received_at", "inbound_messages", ["outcome", "received_at"]),
    # Register.versions_awaiting_decision (every intake run, reconcile): WHERE status = 'proposed'
    ("ix_alert_versions_status", "alert_versions", ["status"]),
    # reminders' unborn query: WHERE expected_delivery <= ? (only unborn-baby versions have one)
    ("ix_alert_versions_expected_delivery", "alert_versions", ["expected_delivery"]),
    # (the audit export of one alert, WHERE inbound_id IN (...), has ix_audit_log_inbound_id from 0010)
]


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert_versions") as batch:
        batch.add_column(sa.Column("expected_delivery", sa.Date(), nullable=True))
    # SQLite drops and rebuilds a table to drop a column, which a foreign key pointing at it forbids:
    # the bodies wait in a table without one until the outbox is rebuilt.
    _bodies_table("outbox_bodies_moving", foreign_key=False)
    op.execute("INSERT INTO outbox_bodies_moving (outbox_id, raw) SELECT id, raw FROM outbox "
               "WHERE raw IS NOT NULL AND length(raw) > 0")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("raw")
    _bodies_table("outbox_bodies", foreign_key=True)
    op.execute("INSERT INTO outbox_bodies (outbox_id, raw) SELECT outbox_id, raw FROM outbox_bodies_moving")
    op.drop_table("outbox_bodies_moving")
    _mark_erased()
    _store_expected_delivery()
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def _bodies_table(name: str, *, foreign_key: bool) -> None:
    key = [sa.ForeignKey("outbox.id")] if foreign_key else []
    op.create_table(name, sa.Column("outbox_id", sa.Integer(), *key, primary_key=True, autoincrement=False),
                    sa.Column("raw", sa.LargeBinary(), nullable=False))


def _mark_erased() -> None:
    """Alerts erased before this migration: every version's form was replaced by the erased marker.
    Their withdrawal (or rejection) date stands in for the erasure date, which only has to be set."""
    bind = op.get_bind()
    versions = sa.table("alert_versions", sa.column("alert_id", sa.Integer), sa.column("form", sa.Text))
    alerts = sa.table("alerts", sa.column("id", sa.Integer), sa.column("status", sa.String),
                      sa.column("updated_at", sa.DateTime), sa.column("erased_at", sa.DateTime))
    from safeguard.adapters.register.crypto import EncryptedJSON

    form = sa.column("form", EncryptedJSON())
    closed = bind.execute(sa.select(alerts.c.id)
                          .where(alerts.c.status.in_(("WITHDRAWN", "REJECTED")))).scalars()
    for alert_ids in _chunks(list(closed), 500):
        forms: dict[int, list[bool]] = {}
        for alert_id, value in bind.execute(sa.select(versions.c.alert_id, form).select_from(versions)
                                            .where(versions.c.alert_id.in_(alert_ids))):
            forms.setdefault(alert_id, []).append(bool((value or {}).get("erased")))
        erased = [a for a, marks in forms.items() if marks and all(marks)]
        if erased:
            bind.execute(sa.update(alerts).where(alerts.c.id.in_(erased))
                         .values(erased_at=alerts.c.updated_at))


def _store_expected_delivery() -> None:
    """The earliest expected date of delivery of each version that has one (unborn-baby alerts), read
    once here so the daily reminders never decrypt forms to find them."""
    from safeguard.adapters.register.crypto import EncryptedJSON
    from safeguard.domain.forms.model import HealthAlertForm

    bind = op.get_bind()
    versions = sa.table("alert_versions", sa.column("id", sa.Integer),
                        sa.column("expected_delivery", sa.Date))
    form = sa.column("form", EncryptedJSON())
    found = {}
    for version_id, value in bind.execute(sa.select(versions.c.id, form).select_from(versions)):
        if not value or value.get("erased"):
            continue
        edd = HealthAlertForm.from_json(value).expected_delivery
        if edd is not None:
            found[version_id] = edd
    for version_id, edd in found.items():
        bind.execute(sa.update(versions).where(versions.c.id == version_id).values(expected_delivery=edd))


def _chunks(items: list, size: int) -> list[list]:
    return [items[n:n + size] for n in range(0, len(items), size)]


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM outbox_bodies WHERE outbox_id = outbox.id)")
    op.get_bind().execute(sa.text("UPDATE outbox SET raw = :empty WHERE raw IS NULL"), {"empty": b""})
    op.drop_table("outbox_bodies")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("raw", existing_type=sa.LargeBinary(), nullable=False)
    # Native DROP COLUMN (SQLite 3.35 and later): rebuilding `alerts` in batch mode would drop a table
    # that every other table points at.
    op.drop_column("alert_versions", "expected_delivery")
    op.drop_column("alerts", "erased_at")
