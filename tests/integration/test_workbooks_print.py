"""Every workbook the product writes, printed: LibreOffice converts each to PDF, and every page of
every sheet must hold all the sheet's columns (its header row, repeated, complete on each page) and
carry the footer with the document's title, the sheet, "Page X of Y" and the protective marking.
The first page of the case-review export's "Form versions" sheet is saved as
test-artifacts/case-review-export.png to show."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook

from safeguard.adapters.returns.alert_history import export_alert_history
from safeguard.adapters.workbooks.fgm_template import build_fgm_template
from safeguard.adapters.workbooks.form_template import build_form_template
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.returns import produce
from tests.conftest import ROOT
from tests.integration.test_returns_files import fgm_month, october_activity

ARTIFACTS = ROOT / "test-artifacts"
SENSITIVE, OFFICIAL = "OFFICIAL-SENSITIVE", "OFFICIAL"


def every_workbook(ctx: IntakeContext, folder: Path) -> dict[Path, tuple[str, str]]:
    """Each workbook the product writes, with the title and marking its pages must carry."""
    result = produce(ctx, "2026-10", out_dir=folder)
    with ctx.uow() as u:
        history = export_alert_history(u.session, ctx.config, "HSA-2026-000001", folder / "case-review.xlsx",
                                       by="test", now=datetime(2026, 11, 1, tzinfo=UTC))
    return {result.files["record-level"]: ("FGM record-level return 2026-10", SENSITIVE),
            result.files["aggregate"]: ("FGM aggregate return 2026-10", OFFICIAL),
            result.files["activity"]: ("Alert activity return 2026-10", OFFICIAL),
            history: ("Case-review export HSA-2026-000001", SENSITIVE),
            build_form_template(folder / "form-template.xlsx"): ("Health alert form", SENSITIVE),
            build_fgm_template(ctx.config.fgm, folder / "fgm-template.xlsx"): ("FGM submission", SENSITIVE)}


def to_pdf(books: list[Path], folder: Path) -> Path:
    out = folder / "pdf"
    completed = subprocess.run(["soffice", "--headless", "--norestore",
                                f"-env:UserInstallation=file://{folder}/lo", "--convert-to", "pdf",
                                "--outdir", str(out), *map(str, books)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return out


def pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [p for p in text.split("\f") if p.strip()]


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def header_words(sheet: object) -> set[str]:
    """The words of the last row repeated on every page (the table's header row), if any."""
    rows = sheet.print_title_rows  # type: ignore[attr-defined]
    if not rows:
        return set()
    last = int(rows.split(":")[1].lstrip("$"))
    return {w for cell in sheet[last] if cell.value for w in str(cell.value).split()}  # type: ignore[index]


def test_every_page_of_every_workbook_is_one_page_wide_with_the_footer_and_marking(
        intake_ctx: IntakeContext, tmp_path: Path) -> None:
    ctx = october_activity(intake_ctx)
    fgm_month(ctx)
    books = every_workbook(ctx, tmp_path / "books")
    out = to_pdf(list(books), tmp_path)
    first_pages: dict[tuple[str, str], int] = {}
    for book, (title, marking) in books.items():
        by_sheet: dict[str, list[str]] = {}
        for n, page in enumerate(pages(out / book.with_suffix(".pdf").name), start=1):
            first_pages.setdefault((book.name, page.split()[0] if page.split() else ""), n)
            lines = [line.strip() for line in page.splitlines() if line.strip()]
            sheet_name, top_marking = re.split(r"\s{2,}", lines[0])  # the header: sheet name, marking
            footer = re.split(r"\s{2,}", lines[-1])  # title, Page X of Y, marking
            assert top_marking == marking and footer[0] == title and footer[2] == marking, (book.name, n)
            assert re.fullmatch(r"Page \d+ of \d+", footer[1]), (book.name, n)
            by_sheet.setdefault(sheet_name, []).append(page)
        workbook = load_workbook(book)
        visible = [s for s in workbook.worksheets if s.sheet_state == "visible"]
        assert sorted(by_sheet) == sorted(s.title for s in visible), book.name
        for sheet in visible:
            words = header_words(sheet)
            for n, page in enumerate(by_sheet[sheet.title], start=1):
                missing = {w for w in words if squeezed(w) not in squeezed(page)}
                assert not missing, f"{book.name} / {sheet.title} page {n} lacks columns headed {missing}"
    versions = first_pages[("case-review.xlsx", "Form")]  # the sheet that used to split in two
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(versions), "-l", str(versions), "-singlefile",
                    str(out / "case-review.pdf"), str(tmp_path / "page")], check=True)
    shutil.copyfile(tmp_path / "page.png", ARTIFACTS / "case-review-export.png")
