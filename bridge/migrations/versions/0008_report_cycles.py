"""report data: conversation cycles, messages counted per hour (by triggers), failed-texts index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
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
        sa.Column("responder_platform", sa.String(length=20), nullable=True),
        sa.Column("responder_id", sa.String(length=100), nullable=True),
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
    op.create_index("ix_messages_created", "messages", ["created_at"])
    failed = sa.text("status IN ('failed', 'undelivered')")
    op.create_index("ix_messages_failed", "messages", ["created_at"], sqlite_where=failed, postgresql_where=failed)
    _create_message_hours()
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
    # Who gave those first responses.
    op.execute(
        """
        UPDATE conversation_cycles SET
          responder_platform = (SELECT m.author_platform FROM messages m JOIN conversations c ON c.id = m.conversation_id
                                WHERE c.id = conversation_cycles.conversation_id AND m.direction = 'out' AND m.kind = 'reply'
                                  AND m.created_at >= c.first_response_at ORDER BY m.created_at LIMIT 1),
          responder_id = (SELECT m.author_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                          WHERE c.id = conversation_cycles.conversation_id AND m.direction = 'out' AND m.kind = 'reply'
                            AND m.created_at >= c.first_response_at ORDER BY m.created_at LIMIT 1)
        WHERE first_response_at IS NOT NULL
        """
    )


# -- messages per hour, kept by triggers ------------------------------------------------

_KEY = "hour, inbox_id, direction, kind, status, error_code, author_platform, author_id, shard"


def _shard(r: str) -> str:
    # PostgreSQL: concurrent transactions counting the same hour lock different rows.
    # SQLite has one writer at a time: one row per key keeps the table small.
    return f"{r}.id % 4" if op.get_bind().dialect.name == "postgresql" else "0"


def _row(r: str, hour: str) -> str:
    """The counter row's key of message `r` (NEW or OLD), as a SELECT list from conversations c."""
    return (
        f"{hour}, c.inbox_id, {r}.direction, {r}.kind, {r}.status, COALESCE({r}.error_code, ''),"
        f" COALESCE({r}.author_platform, ''), COALESCE({r}.author_id, ''), {_shard(r)}"
    )


def _match(r: str, hour: str) -> str:
    return (
        f"hour = {hour} AND inbox_id = (SELECT inbox_id FROM conversations WHERE id = {r}.conversation_id)"
        f" AND direction = {r}.direction AND kind = {r}.kind AND status = {r}.status"
        f" AND error_code = COALESCE({r}.error_code, '') AND author_platform = COALESCE({r}.author_platform, '')"
        f" AND author_id = COALESCE({r}.author_id, '') AND shard = {_shard(r)}"
    )


def _sqlite_hour(r: str) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (bridge/inbox/models.py UTCDateTime).
    return f"(substr({r}.created_at, 1, 13) || ':00:00.000000')"


def _create_message_hours() -> None:
    op.create_table(
        "report_message_hours",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=20), nullable=False),
        sa.Column("author_platform", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.String(length=100), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY.split(", ")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    hour = "date_trunc('hour', m.created_at)" if postgres else "(substr(m.created_at, 1, 13) || ':00:00.000000')"
    op.execute(
        f"INSERT INTO report_message_hours ({_KEY}, messages)"
        f" SELECT {_row('m', hour)}, count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
    )
    if postgres:
        op.execute(
            f"""
            CREATE FUNCTION report_message_hours_count() RETURNS trigger AS $$
            BEGIN
              IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE report_message_hours SET messages = messages - 1
                WHERE {_match("OLD", "date_trunc('hour', OLD.created_at)")};
              END IF;
              IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO report_message_hours ({_KEY}, messages)
                SELECT {_row("NEW", "date_trunc('hour', NEW.created_at)")}, 1 FROM conversations c WHERE c.id = NEW.conversation_id
                ON CONFLICT ({_KEY}) DO UPDATE SET messages = report_message_hours.messages + 1;
              END IF;
              RETURN NULL;
            END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER report_message_hours AFTER INSERT OR DELETE OR UPDATE OF status, error_code ON messages"
            " FOR EACH ROW EXECUTE FUNCTION report_message_hours_count()"
        )
        return
    add = (
        f"INSERT INTO report_message_hours ({_KEY}, messages)"
        f" SELECT {_row('NEW', _sqlite_hour('NEW'))}, 1 FROM conversations c WHERE c.id = NEW.conversation_id"
        f" ON CONFLICT ({_KEY}) DO UPDATE SET messages = messages + 1;"
    )
    remove = f"UPDATE report_message_hours SET messages = messages - 1 WHERE {_match('OLD', _sqlite_hour('OLD'))};"
    op.execute(f"CREATE TRIGGER report_message_hours_ai AFTER INSERT ON messages BEGIN {add} END")
    op.execute(f"CREATE TRIGGER report_message_hours_ad AFTER DELETE ON messages BEGIN {remove} END")
    op.execute(
        "CREATE TRIGGER report_message_hours_au AFTER UPDATE OF status, error_code ON messages"
        f" WHEN OLD.status IS NOT NEW.status OR OLD.error_code IS NOT NEW.error_code BEGIN {remove} {add} END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_message_hours ON messages")
        op.execute("DROP FUNCTION IF EXISTS report_message_hours_count()")
    else:
        for when in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS report_message_hours_{when}")
    op.drop_table("report_message_hours")
    op.drop_index("ix_messages_failed", table_name="messages")
    op.drop_index("ix_messages_created", table_name="messages")
    op.drop_index("ix_cycles_started", table_name="conversation_cycles")
    op.drop_table("conversation_cycles")
