"""the team's queue: automatic assignment (who chose the assignee, a cursor per inbox), SLA clocks and breaches

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
    op.add_column("conversations", sa.Column("reply_clock", sa.String(20), nullable=True))
    op.add_column("conversations", sa.Column("reply_due_at", sa.DateTime(), nullable=True))
    op.add_column("conversations", sa.Column("resolve_due_at", sa.DateTime(), nullable=True))
    op.create_table(
        "sla_breaches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("inbox_id", sa.Integer(), sa.ForeignKey("inboxes.id"), nullable=False),
        sa.Column("clock", sa.String(20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("breached_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_sla_breaches_when", "sla_breaches", ["breached_at", "inbox_id"])
    op.create_table(
        "assignment_cursors",
        sa.Column("inbox_id", sa.Integer(), sa.ForeignKey("inboxes.id"), primary_key=True),
        sa.Column("last_agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("assignment_cursors")
    op.drop_index("ix_sla_breaches_when", table_name="sla_breaches")
    op.drop_table("sla_breaches")
    # Plain ALTER TABLEs (SQLite 3.35+), not a batch copy: the report triggers name the table.
    for column in ("resolve_due_at", "reply_due_at", "reply_clock", "assigned_by"):
        op.drop_column("conversations", column)
