"""approvals: one-time email codes and approval stages

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _version_table(name: str, *columns: sa.Column, unique: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_version_id", sa.Integer(), sa.ForeignKey("alert_versions.id"), nullable=False,
                  index=True),
        *columns,
        sa.UniqueConstraint("alert_version_id", unique),
    )


def upgrade() -> None:
    _version_table("approval_codes",
                   sa.Column("approver_email", sa.String(length=320), nullable=False),
                   sa.Column("code_hash", sa.String(length=64), nullable=False),
                   sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                   sa.Column("used_at", sa.DateTime(timezone=True), nullable=True), unique="approver_email")
    _version_table("approval_stages",
                   sa.Column("stage", sa.String(length=100), nullable=False),
                   sa.Column("approver", sa.String(length=200), nullable=False),
                   sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False), unique="stage")


def downgrade() -> None:
    op.drop_table("approval_stages")
    op.drop_table("approval_codes")
