"""The container image, compose definition and failover settings (docs/containers.md), read as files:
the image runs as a non-root user with no secret in it, compose runs the whole site with N workers,
and the failover lease cannot be set shorter than a few heartbeats."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from safeguard.domain.config.models import FailoverSettings
from tests.conftest import ROOT

SECRET = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN|DATABASE_URL)\w*[=:]\s*\S", re.IGNORECASE)


def test_the_image_runs_as_an_unprivileged_user_and_bakes_no_secret_in() -> None:
    containerfile = (ROOT / "Containerfile").read_text()
    assert re.search(r"^USER safeguard$", containerfile, re.MULTILINE)
    assert "ARG BASE=localhost/safeguard-base:bookworm" in containerfile  # made from Debian packages
    assert "SAFEGUARD_CONFIG=/etc/safeguard" in containerfile  # config mounted, not copied
    instructions = [line for line in containerfile.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in instructions if SECRET.search(line)]
    assert not re.search(r"^COPY .*config", containerfile, re.MULTILINE)


def test_compose_runs_prefect_on_postgresql_the_register_and_workers_on_the_pool() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"prefect-db", "register-db", "prefect-server", "deploy", "worker"} <= set(services)
    server_env = services["prefect-server"]["environment"]
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert services["worker"]["command"][:3] == ["prefect", "worker", "start"]
    assert "hostname" not in services["worker"]  # each scaled worker keeps its own, which its claims carry
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"PASSWORD: (?!\$\{)", text)  # passwords only from the environment


def test_prefect_yaml_has_a_container_pool_beside_the_process_pool() -> None:
    pools = yaml.safe_load((ROOT / "prefect.yaml").read_text())["definitions"]["work_pools"]
    assert pools["process"]["name"] == "safeguard-process"
    assert pools["container"]["name"] == "safeguard-containers"
    assert pools["container"]["job_variables"]["image_pull_policy"] == "Never"


def test_a_lease_shorter_than_three_heartbeats_is_refused() -> None:
    assert FailoverSettings().lease_seconds <= 60
    with pytest.raises(ValidationError, match="three heartbeat_seconds"):
        FailoverSettings(heartbeat_seconds=10, lease_seconds=20)
