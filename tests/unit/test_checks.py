from datetime import timedelta

from safeguard.domain.forms.checks import check_form
from safeguard.domain.forms.lines import from_lines
from safeguard.domain.forms.problems import CheckContext
from testkit import samples
from tests.conftest import TODAY
from tests.factories import fields, people


def check(form_fields: dict[str, str], subjects: list[dict[str, str]], config):
    raw = from_lines(samples.text_form(form_fields, subjects).splitlines(), "email text", 2000)
    return check_form(raw, CheckContext(TODAY, config))


def labels(problems) -> list[str]:
    return [p.label for p in problems]


def test_the_sample_form_is_valid(config) -> None:
    form, problems = check(fields(), people(), config)
    assert problems == []
    assert form is not None and form.providers == ("UHCW", "SWFT") and len(form.subjects) == 2


def test_every_problem_is_reported_at_once(config) -> None:
    bad = fields(**{"Urgency": "Very", "Review date": "31/12/2027", "Providers to alert": "UHCW, NOPE",
                    "Social worker phone": "123", "Team manager": ""})
    _, problems = check(bad, people(), config)
    assert set(labels(problems)) == {"Urgency", "Review date", "Providers to alert", "Social worker phone",
                                     "Team manager"}


def test_problems_name_the_label_and_say_how_to_fix_without_echoing_values(config) -> None:
    subjects = people()
    subjects[0]["NHS number"] = "9434765918"
    _, problems = check(fields(), subjects, config)
    assert labels(problems) == ["NHS number (subject 1)"]
    assert "9434765918" not in problems[0].message and "Check" in problems[0].message


def test_review_date_must_be_after_today_and_within_the_types_lifetime(config) -> None:
    _, today_problems = check(fields(**{"Review date": TODAY.strftime("%d/%m/%Y")}), people(), config)
    too_far = (TODAY + timedelta(days=91)).strftime("%d/%m/%Y")
    _, far_problems = check(fields(**{"Review date": too_far}), people(), config)
    assert labels(today_problems) == ["Review date"] and "after today" in today_problems[0].message
    assert labels(far_problems) == ["Review date"] and "90 days" in far_problems[0].message


def test_unknown_provider_codes_are_listed_back(config) -> None:
    _, problems = check(fields(**{"Providers to alert": "UHCW, XX1, YY2"}), people(), config)
    assert "XX1, YY2" in problems[0].message


def test_unborn_alert_needs_a_mother_an_edd_and_cp_is(config) -> None:
    unborn = [{"Role": "Unborn", "Surname": "Quillfeather"}]
    _, problems = check(fields(**{"Alert type": "Unborn baby", "CP-IS alert raised": "No",
                                  "Legal status": "Pre-birth plan"}), unborn, config)
    assert set(labels(problems)) == {"Subjects", "Expected date of delivery (subject 1)",
                                     "CP-IS alert raised"}


def test_a_valid_unborn_alert_with_mother_passes(config) -> None:
    edd = (TODAY + timedelta(days=100)).strftime("%d/%m/%Y")
    subjects = [{"Role": "Unborn", "Surname": "Quillfeather", "Expected date of delivery": edd},
                people()[1]]
    form, problems = check(fields(**{"Alert type": "Unborn baby", "Legal status": "Pre-birth plan",
                                     "Review date": (TODAY + timedelta(days=200)).strftime("%d/%m/%Y")}),
                           subjects, config)
    assert problems == [] and form is not None


def test_parents_not_informed_needs_a_recorded_reason(config) -> None:
    _, problems = check(fields(**{"Parents informed": "No"}), people(), config)
    assert labels(problems) == ["Reason parents not informed"]


def test_cp_is_must_be_yes_for_a_child_protection_plan(config) -> None:
    _, problems = check(fields(**{"Legal status": "Child protection plan", "CP-IS alert raised": "No"}),
                        people(), config)
    assert labels(problems) == ["CP-IS alert raised"]


def test_designated_nurse_cannot_be_consulted_before_the_case_discussion(config) -> None:
    before = (TODAY - timedelta(days=5)).strftime("%d/%m/%Y")
    _, problems = check(fields(**{"Designated nurse consulted on": before}), people(), config)
    assert labels(problems) == ["Designated nurse consulted on"]


def test_a_child_aged_19_needs_a_care_leaver_or_disability_note(config) -> None:
    subjects = people()
    subjects[0]["Date of birth"] = TODAY.replace(year=TODAY.year - 19).strftime("%d/%m/%Y")
    _, without_note = check(fields(), subjects, config)
    subjects[0]["Description"] = "Care leaver, supported accommodation"
    _, with_note = check(fields(), subjects, config)
    assert labels(without_note) == ["Date of birth (subject 1)"] and with_note == []


def test_date_of_birth_in_the_future_is_refused(config) -> None:
    subjects = people()
    subjects[0]["Date of birth"] = (TODAY + timedelta(days=1)).strftime("%d/%m/%Y")
    _, problems = check(fields(), subjects, config)
    assert labels(problems) == ["Date of birth (subject 1)"]


def test_social_worker_email_must_be_on_an_authorised_domain(config) -> None:
    _, problems = check(fields(**{"Social worker email": "someone@gmail.test"}), people(), config)
    assert labels(problems) == ["Social worker email"]


def test_a_form_needs_a_child_unborn_or_adult_at_risk(config) -> None:
    _, problems = check(fields(), [people()[1]], config)
    assert labels(problems) == ["Subjects"]


def test_more_than_six_subjects_is_refused(config) -> None:
    many = [people()[0]] * 7
    _, problems = check(fields(), many, config)
    assert "Subjects" in labels(problems)


def test_overlong_reason_is_refused(config) -> None:
    _, problems = check(fields(**{"Reason for alert": "x" * 2001}), people(), config)
    assert labels(problems) == ["Reason for alert"]


def test_labels_match_case_insensitively_with_trailing_colons_and_spaces(config) -> None:
    text = samples.text_form(fields(), people()).replace("Alert type:", "  ALERT TYPE  :")
    form, problems = check_form(from_lines(text.splitlines(), "email text", 2000),
                                CheckContext(TODAY, config))
    assert problems == [] and form is not None and form.alert_type == "Missing child"
