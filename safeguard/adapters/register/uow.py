"""The unit of work: one transaction, rolled back unless commit() is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from safeguard.adapters.register.ids import assign_missing
from safeguard.adapters.register.repository import Register


class UnitOfWork:
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.register = Register(self.session)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()


def uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "before_flush", assign_missing)
    return lambda: UnitOfWork(sessions)
