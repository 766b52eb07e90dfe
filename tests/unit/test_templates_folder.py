"""The templates folder is read when an email is rendered, not when the module is imported: intake
helpers start from a forkserver that imported it with the environment of an earlier moment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from safeguard.adapters.notify.render import Rendered, render_email, templates_dir
from safeguard.domain.config import Config
from tests.conftest import ROOT


def failed(config: Config) -> Rendered:
    return render_email("flow_failed", service=config.settings.service, flow_name="intake", run_name="r1",
                        link="http://x/")


def test_a_templates_folder_named_after_import_is_the_one_used(config: Config, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = failed(config)
    assert templates_dir() == ROOT / "templates"
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    (tmp_path / "templates" / "email" / "flow_failed.subject.j2").write_text("Local wording: {{ flow_name }}")
    monkeypatch.setenv("SAFEGUARD_TEMPLATES", str(tmp_path / "templates"))
    assert templates_dir() == tmp_path / "templates"
    assert failed(config).subject == "Local wording: intake"
    monkeypatch.delenv("SAFEGUARD_TEMPLATES")
    assert failed(config) == shipped
