"""Shared fixtures: configuration, registers (SQLite and PostgreSQL), mailboxes, a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.uow import UnitOfWork, uow_factory
from safeguard.domain.config import Config
from safeguard.service_layer.intake import IntakeContext

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Test keys for the encrypted register columns (real deployments take theirs from a secret store).
os.environ.setdefault("SAFEGUARD_DATA_KEYS", "q2dvH8rM7t3JkYwZ5rR1sQ8bD0xN4cP6vF9aL2eU7iE=")
os.environ.setdefault("SAFEGUARD_HASH_KEY", "test-hash-key-not-for-production")
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", "test-audit-key-not-for-production")
ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("SAFEGUARD_TEST_PG_URL",
                              "postgresql+psycopg://safeguard:safeguard@127.0.0.1:5432/postgres")
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config")


def with_settings(config: Config, **changes: object) -> Config:
    """A copy of the configuration with settings sections replaced, e.g. limits=Limits(...)."""
    return config.model_copy(update={"settings": config.settings.model_copy(update=changes)})


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def postgres_database() -> Iterator[str]:
    name = f"safeguard_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'register.sqlite3'}"
    else:
        yield from postgres_database()


@pytest.fixture
def uow(register_url: str) -> Iterator[Callable[[], UnitOfWork]]:
    engine = make_engine(register_url)
    migrate(engine)
    yield uow_factory(engine)
    engine.dispose()


@pytest.fixture
def maildir(tmp_path: Path, config: Config) -> MaildirMailbox:
    return MaildirMailbox(tmp_path / "mail" / "safeguarding", config.settings.service.mailbox_address,
                          tmp_path / "mail" / "delivered")


@pytest.fixture
def intake_ctx(config: Config, maildir: MaildirMailbox, uow: Callable[[], UnitOfWork],
               clock: Callable[[], datetime]) -> IntakeContext:
    return IntakeContext(config, maildir, uow, clock)


def subject_of(raw: bytes) -> str:
    """The Subject header as a person reads it (decoded, unfolded)."""
    from email import message_from_bytes
    from email.header import decode_header, make_header
    return " ".join(str(make_header(decode_header(message_from_bytes(raw)["Subject"] or ""))).split())


def put(box: MaildirMailbox, raw: bytes) -> str:
    return deliver(box.root, raw).name


REF = "HSA-2026-000001"


@pytest.fixture
def active_alert(config: Config, tmp_path: Path, clock: Callable[[], datetime]) -> Iterator[IntakeContext]:
    """A register (SQLite) holding one alert, HSA-2026-000001, approved and sent to UHCW and SWFT:
    what the trust corpus and the attacks on it try to change."""
    from safeguard.service_layer.approval import ApprovalRequest
    from safeguard.service_layer.dispatch import give_decision, send_alert_email
    from safeguard.service_layer.intake import process_batch
    from tests.factories import xlsx_submission

    engine = make_engine(f"sqlite:///{tmp_path / 'register.sqlite3'}")
    migrate(engine)
    box = MaildirMailbox(tmp_path / "mail" / "safeguarding", config.settings.service.mailbox_address,
                         tmp_path / "mail" / "delivered")
    context = IntakeContext(config, box, uow_factory(engine), clock)
    deliver(box.root, xlsx_submission())
    [result] = process_batch(box.list_new(), context)
    assert result.reference == REF  # the first alert of the year
    give_decision(context, REF, 1, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(context, REF)
    yield context
    engine.dispose()
