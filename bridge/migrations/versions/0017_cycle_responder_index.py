"""the report's per-teammate pass over the cycles: by responder, then start

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""
from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Per teammate, the period's first responses in index order: the report's GROUP BY
# responder reads each teammate's range of this index (SQLite: a skip-scan once ANALYZE
# has seen that teammates are few) instead of sorting the month's cycles.
COLUMNS = [
    "responder_platform", "responder_id", "started_at", "inbox_id", "first_response_seconds",
    "first_response_business_seconds",
]


def upgrade() -> None:
    op.create_index("ix_cycles_responder", "conversation_cycles", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_cycles_responder", table_name="conversation_cycles")
