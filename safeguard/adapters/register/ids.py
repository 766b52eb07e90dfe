"""Row ids given when a row is added, not when it is written.

Intake records a chunk of messages in one transaction. If each new row had to be written to learn
its id (the audit log and the replies name it), every message would cost several round trips
through the ORM's flush; with the id known at once, the whole chunk is written in one flush, a
batched INSERT a table (the relationships in orm.py put the tables in foreign-key order).

- SQLite: every transaction holds the database's write lock from its start (BEGIN IMMEDIATE, see
  db.py), so the largest id is read once a transaction and counted on from there. As with SQLite's
  own rowids, an id comes round again only if the newest rows are deleted; nothing deletes inbound
  messages or outbox entries (outbox keys such as reply:<id> rely on that).
- PostgreSQL: ids come from the column's own sequence, BLOCK at a time, kept by this process.
  Sequences never hand out a value twice, so ids taken but not used are only gaps.

Every new row of a session gets its id this way (assign_missing runs before each flush), so ids
given here and ids the database would choose never meet in one transaction.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

BLOCK = 64
_INFO = "safeguard.ids"
_sequence_blocks: dict[tuple[int, str, str], list[int]] = {}  # (process, database, table) -> ids not used yet
_sequence_lock = threading.RLock()  # threads of one process share the blocks


def give_id(session: Session, row: Any) -> None:
    """Set row.id now, if it has an id the database would otherwise choose and none is set yet."""
    table = _numbered_table(type(row))
    if table is not None and row.id is None:
        row.id = _next_id(session, table)


def assign_missing(session: Session, _context: object = None, _instances: object = None) -> None:
    """A before_flush hook: rows added without give_id get their ids from the same source."""
    for row in list(session.new):
        give_id(session, row)


@cache  # one answer a mapped class; asked for every row added and every row pending at a flush
def _numbered_table(cls: type) -> Table | None:
    table = getattr(cls, "__table__", None)
    if not isinstance(table, Table):
        return None
    key = list(table.primary_key.columns)
    if len(key) != 1 or key[0].name != "id" or key[0].autoincrement is False:
        return None
    return table


def _next_id(session: Session, table: Table) -> int:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _from_sequence(session, table)
    if dialect != "sqlite":  # the largest id is only safe to count on under SQLite's write lock
        raise ValueError(f"the register runs on SQLite or PostgreSQL, not {dialect}")
    session.connection()  # the transaction (and with it the write lock) has begun
    transaction = session.get_transaction()
    held: tuple[object, dict[str, int]] | None = session.info.get(_INFO)
    if held is None or held[0] is not transaction:  # a new transaction: read the largest ids again
        held = session.info[_INFO] = (transaction, {})
    counters = held[1]
    if table.name not in counters:
        with session.no_autoflush:  # rows pending in this transaction already have their ids
            counters[table.name] = session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
    counters[table.name] += 1
    return counters[table.name]


def _from_sequence(session: Session, table: Table) -> int:
    database = session.get_bind().url.render_as_string(hide_password=True)
    with _sequence_lock, session.no_autoflush:
        taken = _sequence_blocks.setdefault((os.getpid(), database, table.name), [])
        if not taken:
            taken += session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                                          "FROM generate_series(1, :block)"),
                                     {"table": table.name, "block": BLOCK})
        return taken.pop(0)
