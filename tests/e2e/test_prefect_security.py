"""`safeguard config check` against real Prefect servers (`prefect server start`): an open one is
warned about, in plain words; one with an API auth string and CSRF protection on is not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.prefect_site import Site

pytestmark = pytest.mark.prefect


def _check(tmp_path: Path, server_env: dict[str, str], client_env: dict[str, str]) -> tuple[str, str]:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    site = Site(tmp_path, tmp_path / "config", {})
    site.env.update(server_env)
    try:
        site.start_server()
        for name in server_env:
            site.env.pop(name)
        site.env.update(client_env)
        done = site.safeguard("config", "check", timeout=120)
    finally:
        site.stop()
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_config_check_warns_when_the_prefect_api_answers_without_authentication(tmp_path: Path) -> None:
    out, err = _check(tmp_path, {}, {})
    assert "answers without authentication: anyone who can reach it can read every run" in err
    assert "PREFECT_SERVER_API_AUTH_STRING" in err and "CSRF protection is off" in err
    assert "Traceback" not in err


def test_config_check_is_content_with_an_auth_string_and_csrf_protection(tmp_path: Path) -> None:
    secret = "safeguard:correct-horse-battery"
    out, err = _check(tmp_path, {"PREFECT_SERVER_API_AUTH_STRING": secret,
                                 "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"},
                      {"PREFECT_API_AUTH_STRING": secret, "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "true"})
    assert "WARNING" not in err, err
    assert "turns away requests without credentials, and its CSRF protection is on" in out
