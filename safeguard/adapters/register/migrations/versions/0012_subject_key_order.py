"""subject keys indexed by key and id: the newest alerts sharing a subject, found without reading all

Revision ID: 0012
Revises: 0011

shared_subject_warnings (every new alert and update at intake) asks for the newest WINDOW alerts that
share a subject key: WHERE key = ? ORDER BY id DESC LIMIT 200. An index on key alone finds every
alert that ever shared the key and sorts them, so a person named in thousands of alerts over the years
made each new alert about them read all of those. On (key, id) the same query reads 200 entries
backwards from the newest. The index on key alone is dropped: the new one serves every query by key.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subject_keys_key_id", "subject_keys", ["key", "id"])
    op.drop_index("ix_subject_keys_key", table_name="subject_keys")


def downgrade() -> None:
    op.create_index("ix_subject_keys_key", "subject_keys", ["key"])
    op.drop_index("ix_subject_keys_key_id", table_name="subject_keys")
