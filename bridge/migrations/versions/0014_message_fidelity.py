"""every message as it was meant: the chat message a reply came from (edits)

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy), so the search triggers on messages stay.
    op.add_column("messages", sa.Column("origin_id", sa.String(100), nullable=True))
    op.create_index("ix_messages_origin", "messages", ["author_platform", "origin_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_origin", table_name="messages")
    # Not a batch copy (it would drop the search triggers); SQLite 3.35+ drops columns.
    op.execute("ALTER TABLE messages DROP COLUMN origin_id")
