"""The documentation stands on its own: the README's two commands come first, it stays short, every
link inside the repository leads somewhere, every test it cites exists, and nothing cites a file
outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
SKIPPED_DIRS = {".venv", ".git", "var", "test-artifacts", "node_modules", ".pytest_cache", ".hypothesis"}
# Files that used to be cited but live outside the repository (spelt in pieces so this file does not
# cite them).
OUTSIDE = ("/".join(("..", "shared")), "DESIGN" + ".md", "HEALTH-ALERT-FORM" + ".md", "FGM-DATASET" + ".md")

LINK = re.compile(r"\]\(([^)\s]+)\)")
CITED_TEST = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")


def _links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text(encoding="utf-8"))
            if not re.match(r"^[a-z]+:", target)]  # http:, https:, mailto: are not files here


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_anchor(m) for m in re.findall(r"^#+\s+(.+)$", text, flags=re.MULTILINE)}


def test_the_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    start = lines.index("```bash")
    assert start <= 3, "the commands come straight after the title"
    assert lines[start + 1].startswith("scripts/dev demo ")
    assert lines[start + 2].startswith("scripts/dev test ")


def test_the_readme_is_at_most_150_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file_and_heading_that_exist() -> None:
    broken = []
    for page in PAGES:
        for target in _links(page):
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
                continue
            if fragment and file.suffix == ".md" and fragment not in _anchors(file):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_test_the_docs_cite_exists() -> None:
    missing = []
    for page in PAGES:
        for file, name in CITED_TEST.findall(page.read_text(encoding="utf-8")):
            source = ROOT / file
            if not source.exists() or not re.search(rf"^\s*(async )?def {name}\(", source.read_text(),
                                                    re.MULTILINE):
                missing.append(f"{page.relative_to(ROOT)}: {file}::{name}")
    assert not missing, "cited tests that do not exist:\n" + "\n".join(missing)


def test_the_readme_cites_a_test_for_every_rule() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Rules that are never broken", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows and all(CITED_TEST.search(row) for row in rows)


def test_nothing_in_the_repository_cites_a_file_outside_it() -> None:
    citing = []
    for path in ROOT.rglob("*"):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".j2", ".sh"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        citing += [f"{path.relative_to(ROOT)}: {name}" for name in OUTSIDE if name in text]
    assert not citing, "files citing something outside the repository:\n" + "\n".join(citing)


def test_the_readme_layout_names_every_module() -> None:
    layout = README.read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    modules = [p for folder in ("safeguard", "flows", "tasks", "bench", "cli", "testkit")
               for p in (ROOT / folder).rglob("*.py")
               if p.name != "__init__.py" and "migrations" not in p.parts]
    unnamed = [str(p.relative_to(ROOT)) for p in modules
               if not re.search(rf"\b{re.escape(p.name)}\b", layout)]
    assert not unnamed, "modules missing from the README's layout: " + ", ".join(unnamed)
