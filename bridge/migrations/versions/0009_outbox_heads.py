"""outbox: indexed queue heads, lanes, owners and worker heartbeats

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_instances",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("machine", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.SmallInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("head", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.drop_index("ix_outbox_due")
    op.create_index(
        "ix_outbox_ready",
        "outbox_jobs",
        ["lane", "run_after", "id"],
        postgresql_where=sa.text("head IS NOT NULL"),
        sqlite_where=sa.text("head IS NOT NULL"),
    )
    op.create_index(
        "ix_outbox_owner",
        "outbox_jobs",
        ["owner"],
        postgresql_where=sa.text("owner IS NOT NULL"),
        sqlite_where=sa.text("owner IS NOT NULL"),
    )
    # Jobs of processes that ran the old code: hand running ones back, then mark heads.
    op.execute("UPDATE outbox_jobs SET lane = 1 WHERE kind = 'sms.inbound'")
    op.execute("UPDATE outbox_jobs SET state = 'pending', locked_until = NULL WHERE state = 'running'")
    op.execute(
        "UPDATE outbox_jobs SET head = TRUE WHERE state = 'pending' AND NOT EXISTS ("
        " SELECT 1 FROM outbox_jobs AS earlier WHERE earlier.queue = outbox_jobs.queue"
        " AND earlier.id < outbox_jobs.id AND earlier.state IN ('pending', 'running'))"
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_owner", table_name="outbox_jobs")
    op.drop_index("ix_outbox_ready", table_name="outbox_jobs")
    with op.batch_alter_table("outbox_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "run_after"], unique=False)
        batch_op.drop_column("owner")
        batch_op.drop_column("head")
        batch_op.drop_column("lane")
    op.drop_table("outbox_instances")
