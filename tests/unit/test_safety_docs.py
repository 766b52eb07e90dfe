"""The clinical safety hazard log and the data-flow inventory stay tied to the code: every hazard has
its cause, effect, risk and controls, every control cites a test, and every cited test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAZARD_LOG = ROOT / "docs" / "safety" / "hazard-log.md"
DATA_FLOWS = ROOT / "docs" / "safety" / "data-flows.md"
CITED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
PARTS = ("**Cause**", "**Effect**", "**Initial risk**", "**Residual risk**", "**Controls**")


def hazards() -> dict[str, str]:
    sections = re.split(r"^## (H\d+ .+)$", HAZARD_LOG.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return dict(zip(sections[1::2], sections[2::2], strict=True))


def controls(section: str) -> list[str]:
    listed = section.split("**Controls**", 1)[1]
    return [line.strip() for line in listed.splitlines() if line.strip().startswith("- ")]


def is_defined(file: str, name: str) -> bool:
    source = ROOT / file
    return source.is_file() and re.search(rf"^\s*(async )?def {name}\(", source.read_text(encoding="utf-8"),
                                          re.MULTILINE) is not None


def test_the_hazard_log_covers_the_hazards_the_safety_officer_asked_for() -> None:
    titles = " ".join(hazards()).lower()
    for hazard in ("wrong provider notified", "withdrawal missed", "forged command", "false acknowledgement",
                   "lost bounce", "stale flag after the review date", "duplicate alert",
                   "personal data in prefect"):
        assert hazard in titles, hazard


def test_every_hazard_has_cause_effect_risk_and_controls_each_citing_a_test() -> None:
    for title, section in hazards().items():
        assert all(part in section for part in PARTS), title
        assert re.search(r"severity \d × likelihood \d = \d+", section), title
        assert controls(section), title
        uncited = [c for c in controls(section) if not CITED_TEST.search(c)]
        assert not uncited, f"{title}: controls without a test: {uncited}"


def test_every_test_the_hazard_log_cites_exists() -> None:
    cited = CITED_TEST.findall(HAZARD_LOG.read_text(encoding="utf-8"))
    missing = [f"{file}::{name}" for file, name in cited if not is_defined(file, name)]
    assert cited and not missing, "the hazard log cites tests that do not exist:\n" + "\n".join(missing)


def test_every_data_flow_says_its_retention_and_protection_and_leaves_the_lawful_basis_to_the_site() -> None:
    rows = [line for line in DATA_FLOWS.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and "---" not in line]
    header = ["Where", "What personal data", "Lawful basis", "Retention", "Protection"]
    table = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    assert table[0] == header
    body = [cells for cells in table if cells != header]
    assert len(body) >= 10
    for cells in body:
        assert len(cells) == 5 and cells[2] == "(site to complete)" and cells[3] and cells[4], cells
