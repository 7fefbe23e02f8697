"""full-text search over messages, notes and contacts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

One table, `search_index`, holds a searchable copy of every message body, note body
and contact (name, phone, tags, notes), kept in sync by triggers, so nothing in the
application has to remember to index anything and a crash can never leave the two
apart. bridge/inbox/search.py queries it; the reasons for each choice are below.

SQLite: an FTS5 table with its own content (the UNINDEXED columns must be readable,
which a contentless table cannot do). Its rowid is a *time key*, not a counter:

    message/note: (unix seconds of created_at << 29) | ((id mod 2^27) << 2) | kind
    contact:      -id

FTS5 walks a term's postings in rowid order, so `ORDER BY rowid DESC LIMIT n` gives
"newest first" without reading every match: a common word costs the same as a rare
one. The key is a pure function of the row, so the delete and update triggers find
their entry by rowid instead of scanning. Contacts live below zero, so "contacts only"
(rowid < 0) and "messages and notes only" (rowid > 0) are rowid ranges FTS5 seeks to.
34 bits of seconds last until the year 2514; two rows collide only if they share the
same second, kind and id mod 2^27 (134M apart), which cannot happen in practice.

PostgreSQL: the same table with a generated tsvector ('simple' config, so numbers,
names and words are kept as written, not stemmed), a GIN index for rare terms and a
(created_at, id) b-tree so the planner can walk newest-first and stop early for
common terms. A partial GIN index serves contact-only lookups. `search_fold()` folds
case, punctuation and Latin diacritics the way SQLite's unicode61 tokenizer does, so
both databases find the same things.

Only messages with a body are indexed, and the update triggers fire only for the
columns that are indexed: delivery-status updates, the hottest write, cost nothing.

Beware: Alembic batch mode on SQLite rebuilds a table by copy-and-rename, which drops
its triggers. A later migration that batch-alters messages, notes or contacts must
re-create this migration's triggers for that table (call _sqlite_triggers()).
"""
from __future__ import annotations

import unicodedata

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TOKENIZER = "unicode61 remove_diacritics 2"

# -- SQLite --------------------------------------------------------------------------

# Keep in step with bridge/inbox/search.py (_SQLITE_ROWID_*).
_MESSAGE_KEY = "((CAST(strftime('%s', {r}.created_at) AS INTEGER) << 29) | (({r}.id & 134217727) << 2) | {kind})"
_CONTACT_TEXT = (
    "coalesce({r}.name, '') || ' ' || {r}.phone || ' ' ||"
    " (CASE WHEN {r}.phone LIKE '+1%' THEN substr({r}.phone, 3) ELSE '' END) || ' ' ||"
    " coalesce({r}.tags, '') || ' ' || coalesce({r}.notes, '')"
)


def _sqlite_item_triggers(table: str, kind: str, code: int) -> list[str]:
    new_key = _MESSAGE_KEY.format(r="NEW", kind=code)
    old_key = _MESSAGE_KEY.format(r="OLD", kind=code)
    insert = (
        f"INSERT INTO search_index (rowid, text, conversation_id, kind, row_id, created_at)"
        f" SELECT {new_key}, NEW.body, NEW.conversation_id, '{kind}', NEW.id, NEW.created_at"
        f" WHERE NEW.body <> '';"
    )
    delete = f"DELETE FROM search_index WHERE rowid = {old_key};"
    return [
        f"CREATE TRIGGER search_{table}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER search_{table}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER search_{table}_au AFTER UPDATE OF body, created_at, conversation_id"
        f" ON {table} BEGIN {delete} {insert} END",
    ]


def _sqlite_contact_triggers() -> list[str]:
    insert = (
        "INSERT INTO search_index (rowid, text, conversation_id, kind, row_id, created_at)"
        f" VALUES (-NEW.id, {_CONTACT_TEXT.format(r='NEW')}, NULL, 'contact', NEW.id, NEW.created_at);"
    )
    delete = "DELETE FROM search_index WHERE rowid = -OLD.id;"
    return [
        f"CREATE TRIGGER search_contacts_ai AFTER INSERT ON contacts BEGIN {insert} END",
        f"CREATE TRIGGER search_contacts_ad AFTER DELETE ON contacts BEGIN {delete} END",
        "CREATE TRIGGER search_contacts_au AFTER UPDATE OF name, phone, tags, notes"
        f" ON contacts BEGIN {delete} {insert} END",
    ]


def _sqlite_triggers() -> list[str]:
    return [
        *_sqlite_item_triggers("messages", "message", 1),
        *_sqlite_item_triggers("notes", "note", 2),
        *_sqlite_contact_triggers(),
    ]


SQLITE_TRIGGERS = [
    f"search_{table}_{when}" for table in ("messages", "notes", "contacts") for when in ("ai", "ad", "au")
]


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE search_index USING fts5("
        " text, conversation_id UNINDEXED, kind UNINDEXED, row_id UNINDEXED, created_at UNINDEXED,"
        f" tokenize = '{TOKENIZER}', prefix = '3')"
    )
    for statement in _sqlite_triggers():
        op.execute(statement)
    # Existing history, in rowid order: FTS5 builds its segments fastest that way.
    op.execute(
        "INSERT INTO search_index (rowid, text, conversation_id, kind, row_id, created_at)"
        f" SELECT {_MESSAGE_KEY.format(r='m', kind=1)} AS k, m.body, m.conversation_id, 'message', m.id,"
        " m.created_at FROM messages m WHERE m.body <> '' ORDER BY k"
    )
    op.execute(
        "INSERT INTO search_index (rowid, text, conversation_id, kind, row_id, created_at)"
        f" SELECT {_MESSAGE_KEY.format(r='n', kind=2)} AS k, n.body, n.conversation_id, 'note', n.id,"
        " n.created_at FROM notes n WHERE n.body <> '' ORDER BY k"
    )
    op.execute(
        "INSERT INTO search_index (rowid, text, conversation_id, kind, row_id, created_at)"
        f" SELECT -c.id, {_CONTACT_TEXT.format(r='c')}, NULL, 'contact', c.id, c.created_at FROM contacts c"
    )


def _downgrade_sqlite() -> None:
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS search_index")


# -- PostgreSQL ----------------------------------------------------------------------


def _diacritic_map() -> tuple[str, str]:
    """Latin letters with marks and their bare letters, for translate().

    The query side strips marks with unicodedata (NFKD) too, so the two agree on every
    letter listed here; PostgreSQL's `unaccent` would need an extension per database.
    """
    source, target = [], []
    for code in [*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)]:
        char = chr(code)
        lower = char.lower()
        if len(lower) != 1 or lower in source:
            continue
        bare = "".join(c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c))
        if len(bare) == 1 and bare != lower and bare.isascii():
            source.append(lower)
            target.append(bare)
    return "".join(source), "".join(target)


def _pg_statements() -> list[str]:
    source, target = _diacritic_map()
    return [
        # Punctuation becomes a space first so "+1 (415) 555-0101", "12.50" and e-mail
        # addresses split into the same tokens unicode61 produces on SQLite.
        "CREATE FUNCTION search_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$"
        f" SELECT translate(regexp_replace(lower(t), '[[:punct:][:space:]]+', ' ', 'g'), '{source}', '{target}') $$",
        "CREATE TABLE search_index ("
        " id bigserial PRIMARY KEY,"
        " kind varchar(10) NOT NULL,"
        " row_id bigint NOT NULL,"
        " conversation_id bigint,"
        " created_at timestamp NOT NULL,"
        " body text NOT NULL,"
        " tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_fold(body))) STORED,"
        " CONSTRAINT uq_search_index_item UNIQUE (kind, row_id))",
        "CREATE INDEX ix_search_index_tsv ON search_index USING gin (tsv)",
        "CREATE INDEX ix_search_index_recent ON search_index (created_at, id)",
        "CREATE INDEX ix_search_index_contacts ON search_index USING gin (tsv) WHERE kind = 'contact'",
        *(_pg_item_trigger(table, kind) for table, kind in (("messages", "message"), ("notes", "note"))),
        "CREATE TRIGGER search_messages AFTER INSERT OR DELETE OR UPDATE OF body, created_at, conversation_id"
        " ON messages FOR EACH ROW EXECUTE FUNCTION search_index_message()",
        "CREATE TRIGGER search_notes AFTER INSERT OR DELETE OR UPDATE OF body, created_at, conversation_id"
        " ON notes FOR EACH ROW EXECUTE FUNCTION search_index_note()",
        """CREATE FUNCTION search_index_contact() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                DELETE FROM search_index WHERE kind = 'contact' AND row_id = OLD.id;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO search_index (kind, row_id, conversation_id, created_at, body)
                VALUES ('contact', NEW.id, NULL, NEW.created_at, concat_ws(' ', NEW.name, NEW.phone,
                        CASE WHEN NEW.phone LIKE '+1%' THEN substr(NEW.phone, 3) END,
                        NEW.tags::text, NEW.notes));
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER search_contacts AFTER INSERT OR DELETE OR UPDATE OF name, phone, tags, notes"
        " ON contacts FOR EACH ROW EXECUTE FUNCTION search_index_contact()",
        # Existing history (the triggers only see rows written from now on).
        "INSERT INTO search_index (kind, row_id, conversation_id, created_at, body)"
        " SELECT 'message', id, conversation_id, created_at, body FROM messages WHERE body <> ''",
        "INSERT INTO search_index (kind, row_id, conversation_id, created_at, body)"
        " SELECT 'note', id, conversation_id, created_at, body FROM notes WHERE body <> ''",
        "INSERT INTO search_index (kind, row_id, conversation_id, created_at, body)"
        " SELECT 'contact', id, NULL, created_at, concat_ws(' ', name, phone,"
        " CASE WHEN phone LIKE '+1%' THEN substr(phone, 3) END, tags::text, notes) FROM contacts",
    ]


def _pg_item_trigger(table: str, kind: str) -> str:
    return f"""CREATE FUNCTION search_index_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            DELETE FROM search_index WHERE kind = '{kind}' AND row_id = OLD.id;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.body <> '' THEN
            INSERT INTO search_index (kind, row_id, conversation_id, created_at, body)
            VALUES ('{kind}', NEW.id, NEW.conversation_id, NEW.created_at, NEW.body);
        END IF;
        RETURN NULL;
    END $$"""


def _downgrade_pg() -> None:
    for table in ("messages", "notes", "contacts"):
        op.execute(f"DROP TRIGGER IF EXISTS search_{table} ON {table}")
    op.execute("DROP TABLE IF EXISTS search_index")
    for function in ("search_index_message()", "search_index_note()", "search_index_contact()", "search_fold(text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _pg_statements():
            op.execute(statement)
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_pg()
    else:
        _downgrade_sqlite()
