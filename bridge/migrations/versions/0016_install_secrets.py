"""install secrets: the pepper that hashes an erased contact's number (compliance rule 9)

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "install_secrets",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("install_secrets")
