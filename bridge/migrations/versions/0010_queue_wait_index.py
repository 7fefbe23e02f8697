"""index customer texts by conversation and time (the queue's wait times)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The queue finds each conversation's first customer text after the last reply:
    # one seek into this index instead of reading the conversation's every message.
    op.create_index("ix_messages_wait", "messages", ["conversation_id", "direction", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_wait", table_name="messages")
