"""closing the loop with hospitals: weekly digests and keyed subject hashes

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_digests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(length=40), nullable=False, unique=True),
        sa.Column("provider_code", sa.String(length=10), nullable=False, index=True),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.JSON(), nullable=False),
        sa.Column("withdrawn", sa.JSON(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.String(length=320), nullable=True),
        sa.Column("chased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "subject_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False, index=True),
        sa.Column("key", sa.String(length=40), nullable=False, index=True),
        sa.UniqueConstraint("alert_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("subject_keys")
    op.drop_table("provider_digests")
