"""consent you can read: who recorded each consent change and why; /sms new's consent prompts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: nullable columns need no table copy on SQLite or PostgreSQL.
    op.add_column("consent_events", sa.Column("actor", sa.String(200), nullable=True))
    op.add_column("consent_events", sa.Column("detail", sa.Text(), nullable=True))
    op.create_table(
        "consent_prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inbox_id", sa.Integer(), sa.ForeignKey("inboxes.id"), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_platform", sa.String(20), nullable=False),
        sa.Column("author_id", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_prompts")
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_column("detail")
        batch.drop_column("actor")
