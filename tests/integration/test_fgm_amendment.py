"""A dataset amendment is a change to config/fgm.yaml, not to code. On a copy of the configuration,
`type4_qualifier` is deleted and `fgm_type` renamed (key and label, and the rule that points at it):
the hand-worked month still builds both workbooks, the rules follow the renamed item, and every
breakdown the change did not touch keeps its golden numbers."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from safeguard.adapters.config_files import load_config
from safeguard.adapters.returns.fgm import (
    breakdowns,
    headline,
    load_month,
    write_aggregate,
    write_record_level,
)
from safeguard.service_layer.intake import IntakeContext
from testkit.fgm_synthetic import record
from tests.conftest import ROOT
from tests.integration.test_fgm_returns import GOLDEN, UHCW, counts, october_month, replies_to, send

RENAMED, LABEL = "who_fgm_type", "FGM type (WHO classification)"


def amended(folder: Path) -> Path:
    shutil.copytree(ROOT / "config", folder)
    path = folder / "fgm.yaml"
    fgm = yaml.safe_load(path.read_text())
    fgm["items"] = [i for i in fgm["items"] if i["key"] != "type4_qualifier"]
    for item in fgm["items"]:
        if item["key"] == "fgm_type":
            item.update(key=RENAMED, label=LABEL)
        rules = item.get("requires", [])
        for rule in [rules] if isinstance(rules, dict) else rules:
            rule["item"] = RENAMED if rule["item"] == "fgm_type" else rule["item"]
    path.write_text(yaml.safe_dump(fgm, sort_keys=False, allow_unicode=True))
    return folder


def adapt(row: dict) -> dict:
    """A provider's row under the amended dataset: no Type 4 qualifier, the type under its new name."""
    row = {k: v for k, v in row.items() if k != "type4_qualifier"}
    row[RENAMED] = row.pop("fgm_type")
    return row


@pytest.fixture
def amended_ctx(intake_ctx: IntakeContext, tmp_path: Path) -> IntakeContext:
    config = load_config(amended(tmp_path / "config"))
    return IntakeContext(config, intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)


def test_dropping_and_renaming_items_needs_no_code_and_changes_no_other_number(
        amended_ctx: IntakeContext, tmp_path: Path) -> None:
    ctx = october_month(amended_ctx, adapt)
    with ctx.uow() as u:
        fm = load_month(u.session, ctx.config, "2026-10")
    assert headline(fm) == {"Individuals": 4, "Newly recorded": 3, "Total attendances": 5, "Active cases": 1}
    tables = breakdowns(fm, ctx.config)
    assert "Type 4 qualifier" not in tables
    assert {name: counts(tables[name]) for name in GOLDEN if name != "Type 4 qualifier"} == {
        name: golden for name, golden in GOLDEN.items() if name != "Type 4 qualifier"}
    now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    records = load_workbook(write_record_level(fm, ctx.config, tmp_path / "r.xlsx", now))["Records"]
    header = next(records.iter_rows(max_row=1, values_only=True))
    assert LABEL in header and "FGM type" not in header and "Type 4 qualifier" not in header
    aggregate = load_workbook(write_aggregate(fm, ctx.config, tmp_path / "a.xlsx", now))
    assert aggregate.sheetnames[:3] == ["Cover", "Summary", "Prevalence"]


def test_the_rules_follow_the_renamed_item(amended_ctx: IntakeContext) -> None:
    row = adapt(record("9434765919", date(2026, 10, 5), deinfibulation="Y - Yes", fgm_type="2 - Type 2"))
    [result] = send(amended_ctx, UHCW, "2026-10", [row], "UHCW")
    assert result.reason == "fgm-with-errors"
    [reply] = replies_to(amended_ctx, UHCW)
    assert "Row 2, Deinfibulation undertaken: can only be Yes for FGM Type 3" in reply.decode()
    row = adapt(record("9434765919", date(2026, 10, 5), deinfibulation="Y - Yes", fgm_type="3 - Type 3"))
    [fine] = send(amended_ctx, UHCW, "2026-10", [row], "UHCW")
    assert fine.reason == "fgm-accepted"
