"""lifecycle: approval decisions on versions, per-provider deliveries

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert_versions") as batch:
        batch.add_column(sa.Column("approval_run_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("left_out", sa.JSON(), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("provider_code", sa.String(length=10), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notice_key", sa.String(length=200), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "provider_code"),
    )
    op.create_index("ix_deliveries_alert_id", "deliveries", ["alert_id"])
    op.create_index("ix_outbox_alert_id", "outbox", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_alert_id", "outbox")
    op.drop_index("ix_deliveries_alert_id", "deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("alert_versions") as batch:
        for column in ("left_out", "decision_note", "decision_reason", "decided_at", "decided_by",
                       "approval_run_id"):
            batch.drop_column(column)
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("withdrawn_at")
        batch.drop_column("dispatched_at")
