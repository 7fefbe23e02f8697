"""every message as it was meant: the chat message a reply came from (edits), reply files (MMS)

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
    op.add_column("messages", sa.Column("content_sid", sa.String(64), nullable=True))
    op.add_column("messages", sa.Column("content_variables", sa.JSON(), nullable=True))
    op.create_index("ix_messages_origin", "messages", ["author_platform", "origin_id"])
    # Files attached to replies (MMS), served to the provider at /media/<token>.
    op.create_table(
        "media_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_media_files_message_id", "media_files", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_media_files_message_id", table_name="media_files")
    op.drop_table("media_files")
    op.drop_index("ix_messages_origin", table_name="messages")
    # Not a batch copy (it would drop the search triggers); SQLite 3.35+ drops columns.
    for column in ("content_variables", "content_sid", "origin_id"):
        op.execute(f"ALTER TABLE messages DROP COLUMN {column}")
