"""index conversations by contact

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversations_contact", "conversations", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_contact", table_name="conversations")
