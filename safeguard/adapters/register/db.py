"""Engines and schema migrations. Build engines in factories, never at import time."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5AFE6A4D  # any constant: one advisory lock for schema changes


def make_engine(url: str) -> Engine:
    """hide_parameters keeps personal data out of error messages (which can reach logs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(url, hide_parameters=True,
                               connect_args={"timeout": 60, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, hide_parameters=True, pool_pre_ping=True)


def _private_file(path: Path) -> None:
    """A new register file is created 0600 in a 0700 folder (SQLite gives its -wal and -shm files the
    same mode): it holds personal data, encrypted or not."""
    from safeguard.adapters.private_files import FILE_MODE, private_folder
    private_folder(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def newest_revision() -> str:
    """Migration files are named after their revision (0005_outbox_claim.py is revision "0005")."""
    return max(path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except DBAPIError:  # a new database: no alembic_version table yet
        return None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    for attempt in range(300):  # switching to WAL needs a moment alone with a new file: wait our turn
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 299:
                raise
            time.sleep(0.1)
    # FULL: a commit is on disk before intake replies or files the message, even across a power cut
    # (NORMAL in WAL mode may lose the last commits then). Intake commits once per chunk, so it is cheap.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased personal data (retention, erasure on request) is overwritten with zeros in the file, not
    # left in free pages where a scan of the file would find it.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def drop_old_page_copies(engine: Engine) -> None:
    """After an erasure: on SQLite, copy the write-ahead log into the file and empty it, so no earlier
    copy of an erased page stays in it (outside any transaction: the driver connection is in
    autocommit). PostgreSQL's autovacuum removes dead row versions."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration (idempotent). A register already there is only
    asked its revision: alembic, a quarter of a second of start-up, loads only when there is work
    (every process opens the register, intake's helper processes too)."""
    if _revision(engine) == newest_revision():
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two workers starting at once on a fresh database take turns
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
