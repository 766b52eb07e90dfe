"""Wiring: build the register, mailbox and clock that use cases need, from the configuration.

Flows and the CLI call `open_app`; nothing is built at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property

from sqlalchemy import Engine

from safeguard.adapters.calendar_source import load_calendar
from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.factory import open_mailbox
from safeguard.adapters.register.crypto import KEY_VARIABLES, check_keys
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.repository import RegisterState
from safeguard.adapters.register.uow import UnitOfWork, uow_factory
from safeguard.domain.calendar import WorkingDays
from safeguard.domain.config import Config
from safeguard.service_layer.intake import IntakeContext


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    config: Config
    engine: Engine
    uow: Callable[[], UnitOfWork]

    @cached_property
    def calendar(self) -> WorkingDays:
        return load_calendar(self.config.directory)

    @contextmanager
    def intake_context(self, clock: Callable[[], datetime] = utc_now) -> Iterator[IntakeContext]:
        with open_mailbox(self.config, RegisterState(self.uow)) as mailbox:
            yield IntakeContext(self.config, mailbox, self.uow, clock)


def open_intake_context(config_dir: str | None) -> AbstractContextManager[IntakeContext]:
    """The intake context for a config folder, from a module-level function so that a partial of it
    pickles (intake_pool's helper processes open their own with it)."""
    return open_app(config_dir).intake_context()


ENVIRONMENT_OVERRIDES = ("SAFEGUARD_CONFIG", "SAFEGUARD_DATABASE_URL", "SAFEGUARD_MAILDIR",
                         "SAFEGUARD_DELIVER_TO", *KEY_VARIABLES)


def open_app(config_dir: str | None = None) -> App:
    """One App per process, config folder and environment: the engine's connection pool is shared."""
    return _open_app(config_dir, tuple(os.environ.get(name) for name in ENVIRONMENT_OVERRIDES))


@cache
def _open_app(config_dir: str | None, _environment: tuple[str | None, ...]) -> App:
    config = load_config(config_dir)
    for warning in config.warnings():
        logging.getLogger("safeguard").warning("configuration: %s", warning)
    check_keys()
    engine = make_engine(config.settings.register_db.url)
    migrate(engine)
    return App(config, engine, uow_factory(engine))
