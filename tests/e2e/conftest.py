from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.uow import uow_factory
from safeguard.service_layer.intake import IntakeContext
from tests.conftest import NOW


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real temporary Prefect server for the whole session; yields its database URL."""
    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield get_current_settings().server.database.connection_url.get_secret_value()


@pytest.fixture(scope="session")
def approval_deployment(prefect_server: str) -> str:
    """The decision flows' deployments (suspending needs a deployment), with nobody serving them:
    a test plays the worker where it needs one."""
    from flows.alert_approval import alert_approval
    from flows.withdrawal_decision import withdrawal_decision
    alert_approval.to_deployment(name="approval").apply()
    withdrawal_decision.to_deployment(name="withdrawal").apply()
    return "alert-approval/approval"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config) -> IntakeContext:
    """Maildir + SQLite through the environment, as a deployment would have them."""
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail" / "safeguarding"))
    monkeypatch.setenv("SAFEGUARD_DELIVER_TO", str(tmp_path / "mail" / "delivered"))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'register.sqlite3'}")
    engine = make_engine(os.environ["SAFEGUARD_DATABASE_URL"])
    migrate(engine)
    box = MaildirMailbox(tmp_path / "mail" / "safeguarding", config.settings.service.mailbox_address,
                         tmp_path / "mail" / "delivered")
    return IntakeContext(config, box, uow_factory(engine), lambda: NOW)
