"""The house style's one call that makes a workbook print as a document (the PDF test in
tests/integration/test_workbooks_print.py shows LibreOffice honours it)."""

from __future__ import annotations

from openpyxl import Workbook

from safeguard.adapters.returns.workbook import Marking, set_up_printing, write_table


def test_one_call_sets_up_every_visible_sheet_to_print_one_page_wide_with_a_marked_footer() -> None:
    book = Workbook()
    narrow = book.active
    write_table(narrow, ["Item", "Value"], [("Reference", "HSA-2026-000001")], widths=[20, 30])
    wide = book.create_sheet("Wide")
    write_table(wide, [f"Column {n}" for n in range(12)], [list(range(12))] * 3)
    hidden = book.create_sheet("Lists")
    hidden.sheet_state = "hidden"
    set_up_printing(book, title="Case-review export HSA-2026-000001", marking=Marking.OFFICIAL_SENSITIVE)
    for sheet, orientation, area in ((narrow, "portrait", "$A$1:$B$2"), (wide, "landscape", "$A$1:$L$4")):
        assert sheet.page_setup.orientation == orientation
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$1:$1" and sheet.print_area.endswith(area)
        assert sheet.oddFooter.left.text == "Case-review export HSA-2026-000001"
        assert sheet.oddFooter.center.text == "Page &P of &N"
        assert sheet.oddFooter.right.text == sheet.oddHeader.center.text == "OFFICIAL-SENSITIVE"
    assert not hidden.print_area
