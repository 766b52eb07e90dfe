"""Forms are read exactly as written: unknown labels are named, never glued onto the value above;
only free-text fields run over several lines; Word's checkboxes, placeholders and merged cells are
read as a person reads them."""

from __future__ import annotations

from safeguard.adapters.workbooks.ooxml import Limits, read_document
from safeguard.adapters.workbooks.wordtables import answer
from safeguard.domain.forms.checks import check_form
from safeguard.domain.forms.lines import from_lines
from safeguard.domain.forms.problems import CheckContext
from safeguard.domain.forms.raw import from_grids
from testkit import samples
from tests.conftest import TODAY
from tests.factories import (
    PLACEHOLDER,
    checkbox_control,
    fields,
    legacy_checkbox,
    people,
    text_run,
    word_form,
)

LIMITS = Limits(50 * 1024 * 1024, 100)


def body_problems(config, text: str) -> list[str]:
    raw = from_lines(text.splitlines(), "email text", 2000)
    _form, problems = check_form(raw, CheckContext(TODAY, config))
    return [str(p) for p in problems]


def word(config, data: bytes):
    document = read_document("docx", data, LIMITS, 2000)
    assert document.problem is None
    raw = from_grids(document.grids(2000), "docx", strict=True)
    return raw, check_form(raw, CheckContext(TODAY, config))


def test_a_body_line_whose_label_is_not_on_the_form_is_named_and_not_glued_on(config) -> None:
    text = samples.text_form(fields(), people()) + "Favourite colour: blue\n"
    assert body_problems(config, text) == ["'Favourite colour': is not a label on the form. Use the labels "
                                           "exactly as the form gives them, or remove that line."]


def test_photo_attached_is_a_label_on_the_form_and_yes_or_no_is_read(config) -> None:
    form, problems = check_form(from_lines(samples.text_form(fields(**{"Photo attached": "No"}), people())
                                           .splitlines(), "email text", 2000), CheckContext(TODAY, config))
    assert problems == [] and form is not None and form.photo_attached == "No"


def test_a_free_text_field_runs_on_but_a_phone_number_does_not(config) -> None:
    text = samples.text_form(fields(), people()).replace(
        "Reason for alert: Child", "Reason for alert: first line\nsecond line\nChild").replace(
        "Out of hours contact: 024 7683 2222",
        "Out of hours contact: 024 7683 2222\nask for the duty manager")
    raw = from_lines(text.splitlines(), "email text", 2000)
    assert str(raw.fields["reason"]).startswith("first line\nsecond line\nChild")
    assert body_problems(config, text) == [
        "Out of hours contact: runs onto a second line, but only text fields can. Put its value on the same "
        "line as the label, and start every other line with a label from the form."]


def test_quoted_lines_times_links_and_a_signature_are_not_labels(config) -> None:
    text = ("> Old label: quoted\n" + samples.text_form(fields(**{
        "Reason for alert": "Seen at 10:30 near https://example.test/map"}), people())
        + "\n-- \nTamsin Holloway\nTel: 024 7683 1234\n")
    assert body_problems(config, text) == []


def test_reading_stops_where_an_earlier_email_quoted_below_the_form_begins(config) -> None:
    form = samples.text_form(fields(), people())
    for quoted in ("From: Safeguarding <safeguarding@example-icb.test>\nSent: Monday\nTo: Tamsin\n",
                   "-----Original Message-----\nSubject: HSA-2026-000001: please correct\n",
                   "On Mon, 23 Nov 2026 at 10:00, Safeguarding wrote:\nReason: see below\n"):
        assert body_problems(config, f"Hi,\n\n{form}\nThanks\n\n{quoted}") == []


def test_a_word_row_whose_label_is_not_on_the_form_is_named(config) -> None:
    raw, (_form, problems) = word(config, word_form(fields(), people(), extra_rows=(("Ethnicity", "x"),)))
    assert [str(p) for p in problems] == ["'Ethnicity': is not a label on the form. Use the labels exactly "
                                          "as the form gives them, or remove that line."]


def test_word_checkbox_controls_and_legacy_checkboxes_read_as_yes_or_no(config) -> None:
    answers = {**fields(), "Parents informed": [*checkbox_control(True), *text_run(" Yes "),
                                                *checkbox_control(False), *text_run(" No")],
               "Photo attached": legacy_checkbox(False)}
    raw, (form, problems) = word(config, word_form(answers, people()))
    assert problems == [] and form is not None
    assert (form.parents_informed, form.photo_attached) == ("Yes", "No")
    raw, _ = word(config, word_form({**fields(), "Photo attached": checkbox_control(True)}, people()))
    assert raw.fields["photo_attached"] == "Yes"
    raw, _ = word(config, word_form({**fields(), "Photo attached": legacy_checkbox(True)}, people()))
    assert raw.fields["photo_attached"] == "Yes"


def test_a_word_placeholder_reads_as_empty(config) -> None:
    raw, (form, problems) = word(config, word_form({**fields(), "Pharmacy": PLACEHOLDER}, people()))
    assert problems == [] and form is not None and form.pharmacy is None
    _raw, (_form, problems) = word(config, word_form({**fields(), "Team manager": PLACEHOLDER}, people()))
    assert [p.label for p in problems] == ["Team manager"]


def test_word_merged_cells_are_read_once(config) -> None:
    raw, (form, problems) = word(config, word_form(fields(), people(), merged=True))
    assert problems == [] and form is not None
    assert form.subjects[0].address == "12 Nowhere Lane, Coventry" and form.subjects[1].address is None
    assert form.local_authority == "Coventry City Council"



def test_a_word_label_merged_down_over_two_rows_continues_only_a_text_value(config) -> None:
    continued = {"Reason for alert": "second line", "Out of hours contact": "024 7683 2223"}
    raw, (_form, problems) = word(config, word_form(fields(), people(), merged_down=continued))
    assert str(raw.fields["reason"]).endswith("\nsecond line")
    assert [p.label for p in problems] == ["Out of hours contact"]  # a phone number takes one line


def test_a_ticked_option_is_read_whichever_side_of_its_box_it_is_written() -> None:
    assert answer(["\n", True, " Yes ", False, " No"]) == "Yes"
    assert answer(["\n", "Yes ", False, "  No ", True]) == "No"
    assert answer(["\n", False]) == "No"
    assert answer([True, " Yes ", True, " No"]) == "Yes, No"  # two ticked: the choice check reports it
    assert answer(["\n", "Looked after ", False, "\n", "Child in need ", True]) == "Child in need"
