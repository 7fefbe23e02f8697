"""the team's queue: automatic assignment (who chose the assignee, a cursor per inbox)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("assigned_by", sa.String(60), nullable=True))
    op.create_table(
        "assignment_cursors",
        sa.Column("inbox_id", sa.Integer(), sa.ForeignKey("inboxes.id"), primary_key=True),
        sa.Column("last_agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("assignment_cursors")
    # A plain ALTER TABLE (SQLite 3.35+), not a batch copy: the report triggers name the table.
    op.drop_column("conversations", "assigned_by")
