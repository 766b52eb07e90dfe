import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli.main import main
from safeguard.adapters.config_files import ConfigError, load_config
from safeguard.adapters.notify.render import render_email
from safeguard.domain.forms.contract import FORM_FIELDS, SUBJECT_FIELDS
from safeguard.domain.forms.model import HealthAlertForm, Subject
from tests.conftest import ROOT


def test_config_errors_name_the_file_the_key_and_the_problem(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    settings = tmp_path / "config" / "settings.yaml"
    settings.write_text(settings.read_text().replace("max_attachment_mb: 25", "max_attachment_mb: -1"))
    providers = tmp_path / "config" / "providers.yaml"
    providers.write_text(providers.read_text().replace("mailbox: safeguarding@uhcw.test",
                                                       "mailbox: not-an-address"))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "config")
    message = str(err.value)
    assert "settings.yaml: limits.max_attachment_mb: Input should be greater than 0" in message
    assert "providers.yaml: providers.0.mailbox: 'not-an-address' is not an email address" in message


def test_safeguard_config_selects_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_CONFIG", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_the_cli_reports_config_errors_in_plain_words(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nowhere"), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_the_typed_model_has_a_field_for_every_label_of_the_contract() -> None:
    assert {f.key for f in FORM_FIELDS} <= set(HealthAlertForm.__dataclass_fields__)
    assert {f.key for f in SUBJECT_FIELDS} == set(Subject.__dataclass_fields__)


def test_safeguard_template_form_writes_a_protected_form_with_drop_downs(tmp_path: Path) -> None:
    assert main(["template", "form", str(tmp_path / "form.xlsx")]) == 0
    book = load_workbook(tmp_path / "form.xlsx")
    form = book["Form"]
    assert book.sheetnames == ["Instructions", "Form", "Lists"] and form.protection.sheet
    lists = [dv for dv in form.data_validations.dataValidation if dv.type == "list"]
    choice_fields = [f for f in FORM_FIELDS + SUBJECT_FIELDS if f.choices]
    assert len(lists) == len(choice_fields)
    labels = {c.value: c for c in form["A"] if c.value}
    assert (labels["Alert type"].protection.locked
            and not form[f"B{labels['Alert type'].row}"].protection.locked)
    assert form[f"B{labels['Review date'].row}"].number_format == "DD/MM/YYYY"


def test_the_committed_template_matches_the_generator(tmp_path: Path) -> None:
    main(["template", "form", str(tmp_path / "fresh.xlsx")])
    committed = load_workbook(ROOT / "templates" / "health_alert_form.xlsx")["Form"]
    fresh = load_workbook(tmp_path / "fresh.xlsx")["Form"]
    assert ([[c.value for c in r] for r in committed.iter_rows()]
            == [[c.value for c in r] for r in fresh.iter_rows()])


def test_html_emails_escape_what_senders_typed(config) -> None:
    from types import SimpleNamespace
    decision = SimpleNamespace(problems=[SimpleNamespace(label="<script>x</script>", message="{{ 7*7 }}")])
    rendered = render_email("form_invalid", service=config.settings.service, decision=decision)
    assert "&lt;script&gt;" in rendered.html and "<script>" not in rendered.html
    assert "{{ 7*7 }}" in rendered.text and "49" not in rendered.text


def test_the_fgm_template_offers_every_code_as_a_drop_down(tmp_path, config) -> None:
    from openpyxl import load_workbook

    from safeguard.adapters.workbooks.fgm_template import build_fgm_template
    book = load_workbook(build_fgm_template(config.fgm, tmp_path / "fgm.xlsx"))
    assert book.sheetnames == ["Instructions", "Submission", "Records", "Lists"]
    headers = [c.value for c in book["Records"][1]]
    assert headers == [i.label for i in config.fgm.items]
    lists = book["Lists"]
    column = headers.index("FGM type") + 1
    offered = [lists.cell(r, column).value for r in range(1, 13)]
    assert offered[0] == "1 - Type 1" and "NK - FGM type not known" in offered
    assert len(book["Records"].data_validations.dataValidation) == sum(
        i.type in ("code", "country") for i in config.fgm.items)


def test_an_fgm_code_item_without_codes_is_named_in_the_error(tmp_path) -> None:
    import shutil

    import pytest

    from safeguard.adapters.config_files import ConfigError, load_config
    from tests.conftest import ROOT
    shutil.copytree(ROOT / "config", tmp_path / "c")
    text = (tmp_path / "c" / "fgm.yaml").read_text().replace(
        "    codes: {Y: Pregnant, N: Not pregnant, NK: Not known}\n", "")
    (tmp_path / "c" / "fgm.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "c")
    assert "fgm.yaml: items.8: item pregnancy_status is of type 'code' but lists no codes" in str(error.value)


def test_an_fgm_rule_or_breakdown_that_cannot_work_is_refused_in_plain_words(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "c")
    path = tmp_path / "c" / "fgm.yaml"
    text = path.read_text()
    unknown = text.replace('requires: {item: fgm_type, in: ["4"]', 'requires: {item: fgm_kind, in: ["4"]')
    path.write_text(text.replace("breakdown: {title: Age when FGM was undertaken}",
                                 "breakdown: {group: area}"))
    lookup = tmp_path / "c" / "postcode_districts.yaml"
    lookup.write_text("source: x\nas_of: 2026-12-02\ndistricts: {cv1: X}\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "c")
    message = str(error.value)
    assert "item age_fgm_undertaken (type 'code') cannot be grouped by 'area'; use one of: code" in message
    assert "not postcode districts: cv1 (write them like CV1 or B15)" in message
    path.write_text(unknown)
    shutil.copyfile(ROOT / "config" / "postcode_districts.yaml", lookup)
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "c")
    assert "item type4_qualifier requires item 'fgm_kind', which is not in the items list" in str(error.value)
