"""What the admin team reads in Prefect: counts and codes in words, tables in markdown."""

from __future__ import annotations

from datetime import timedelta

from safeguard.service_layer.wording import age, counted, listed, markdown_table, notices_table, spoken


def test_codes_read_as_words() -> None:
    assert spoken("form-problems") == "form problems" and spoken("AWAITING_APPROVAL") == "awaiting approval"


def test_counts_read_as_a_sentence_without_the_zeros() -> None:
    assert counted({"sent": 2, "deferred": 0, "no-deployment": 1}) == "2 sent, 1 no deployment"
    assert counted({"sent": 0}) == "none" and counted({}, nothing="nothing to send") == "nothing to send"


def test_lists_read_as_a_comma_separated_line() -> None:
    assert listed(["UHCW", "SWFT"]) == "UHCW, SWFT" and listed([]) == "none"


def test_ages_are_given_in_the_largest_unit_that_says_them() -> None:
    assert [age(timedelta(minutes=m)) for m in (0, 1, 59, 60, 150, 1440, 4000)] == [
        "0 minutes", "1 minute", "59 minutes", "1 hour", "2 hours", "1 day", "2 days"]


def test_a_markdown_table_keeps_its_cells_on_one_line() -> None:
    table = markdown_table(["a", "b"], [["x|y", "line\nbreak"]])
    assert table == "| a | b |\n| --- | --- |\n| x/y | line break |"


def test_a_decision_artifact_lists_notices_in_a_table_without_python_reprs() -> None:
    text = notices_table({"alert": ["UHCW", "SWFT"], "withdrawal": ["WMAS"]}, ("GEH",), {"sent": 3})
    assert "| alert | UHCW, SWFT |" in text and "| withdrawal | WMAS |" in text
    assert "Not sent (the admin team has been emailed): GEH." in text and "Email sent now: 3 sent." in text
    assert not set("{}[]'") & set(text)


def test_every_intake_outcome_has_words_for_the_admin_teams_table() -> None:
    from flows.intake import OUTCOME_WORDS
    from safeguard.domain.status import Outcome

    assert set(OUTCOME_WORDS) == set(Outcome)
