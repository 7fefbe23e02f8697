"""covering indexes for the report: cycles by start, conversations by status

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30
"""
from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

# Every column a report reads from a cycle, after the period and inbox it is found by:
# the report's five passes over a month's cycles read this index only, never the table.
CYCLE_COLUMNS = [
    "started_at", "inbox_id", "origin", "seq", "first_response_seconds", "resolution_seconds",
    "first_response_business_seconds", "resolution_business_seconds", "responder_platform", "responder_id",
    "first_response_at",
]


def upgrade() -> None:
    op.create_index("ix_cycles_report", "conversation_cycles", CYCLE_COLUMNS)
    op.drop_index("ix_cycles_started", table_name="conversation_cycles")
    # Backlog and "open now" per teammate: a narrow index instead of the whole table.
    op.create_index("ix_conversations_report", "conversations", ["status", "inbox_id", "assignee_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_report", table_name="conversations")
    op.create_index("ix_cycles_started", "conversation_cycles", ["started_at", "inbox_id"])
    op.drop_index("ix_cycles_report", table_name="conversation_cycles")
