"""conversation cycles for reports; indexes for period aggregates

Revision ID: 0008
Revises: 0005 (temporarily: re-pointed at the last migration of main when merged)
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def _seconds_between(later: str, earlier: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS INTEGER)"
    return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400) AS INTEGER)"


def upgrade() -> None:
    op.create_table(
        "conversation_cycles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("customer_at", sa.DateTime(), nullable=True),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("first_response_message_id", sa.Integer(), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("first_response_business_seconds", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_business_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"]),
        sa.ForeignKeyConstraint(["first_response_message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "seq"),
    )
    op.create_index("ix_cycles_started", "conversation_cycles", ["started_at", "inbox_id"])
    # Period aggregates over messages read this index only (no table rows).
    op.create_index(
        "ix_messages_report",
        "messages",
        ["created_at", "direction", "kind", "status", "conversation_id", "author_platform", "author_id"],
    )
    # Today's conversations become one cycle each: who wrote first decides its origin;
    # a team-started one gets no first response (it was never a reply to the customer).
    first_in = "(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in')"
    first_out = "(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out' AND m.kind = 'reply')"
    op.execute(
        f"""
        INSERT INTO conversation_cycles (conversation_id, inbox_id, seq, origin, started_at, customer_at,
                                         first_response_at, first_response_seconds, resolved_at, resolution_seconds)
        SELECT c.id, c.inbox_id, 1, t.origin, c.created_at, t.first_in,
               CASE WHEN t.origin = 'customer' THEN c.first_response_at END,
               CASE WHEN t.origin = 'customer' AND c.first_response_at IS NOT NULL
                    THEN {_seconds_between("c.first_response_at", "c.created_at")} END,
               c.resolved_at,
               CASE WHEN c.resolved_at IS NOT NULL THEN {_seconds_between("c.resolved_at", "c.created_at")} END
        FROM conversations c
        JOIN (SELECT c2.id AS id, {first_in.replace("c.id", "c2.id")} AS first_in,
                     CASE WHEN {first_out.replace("c.id", "c2.id")} < COALESCE({first_in.replace("c.id", "c2.id")}, {first_out.replace("c.id", "c2.id")})
                            OR ({first_in.replace("c.id", "c2.id")} IS NULL AND {first_out.replace("c.id", "c2.id")} IS NOT NULL)
                          THEN 'team' ELSE 'customer' END AS origin
              FROM conversations c2) t ON t.id = c.id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_messages_report", table_name="messages")
    op.drop_index("ix_cycles_started", table_name="conversation_cycles")
    op.drop_table("conversation_cycles")
