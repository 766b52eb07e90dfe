"""Rows locked once per transaction and reused after, for appends that come in batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


def locked_once(session: Session, key: str, lock: Callable[[], T]) -> T:
    """lock() (a SELECT ... FOR UPDATE) the first time in a transaction; its row after that. A
    rolled-back savepoint releases a lock taken inside it (PostgreSQL) and expires its changes to
    the row, so after one the row is locked and read again."""
    held = session.info.get(key)
    if held is not None and held[0].is_active:
        return held[1]  # type: ignore[no-any-return]
    row = lock()
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None:
        session.info[key] = (transaction, row)
    return row
