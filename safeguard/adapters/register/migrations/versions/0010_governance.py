"""information governance: audit chain v2 (keyed commitments, erasable details, checkpoints), reversible
FGM replacement

Revision ID: 0010
Revises: 0009

audit_log.inbound_id gets an index: one alert's export finds the entries of its messages by it
(`inbound_id IN (...)`), which otherwise reads the whole log. An empty register starts as chain v2 at
its first entry; a register with entries continues as v2 after its next append (audit.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("commitment", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_audit_log_inbound_id", ["inbound_id"])
        batch.create_index("ix_audit_log_erased_at", ["erased_at"])
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("v2_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_head SET v2_from = 1 WHERE seq = 0")
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
    )
    with op.batch_alter_table("fgm_submissions") as batch:
        batch.add_column(sa.Column("status_before", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fgm_submissions") as batch:
        batch.drop_column("status_before")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("mac")
        batch.drop_column("v2_from")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_erased_at")
        batch.drop_index("ix_audit_log_inbound_id")
        batch.drop_column("erased_at")
        batch.drop_column("commitment")
