import pytest

from safeguard.domain.carriers import AttachmentRefused, TooManyForms, find_form
from safeguard.domain.forms.checks import check_form
from safeguard.domain.forms.problems import CheckContext
from safeguard.service_layer.attachments import read_message
from testkit import samples
from tests import hostile
from tests.conftest import TODAY
from tests.factories import INBOX, SW, docx_form, fields, people


def form_from(raw_message: bytes, config):
    raw = find_form(read_message(raw_message, config), config)
    assert raw is not None
    form, problems = check_form(raw, CheckContext(TODAY, config))
    assert problems == [], problems
    return form


def test_xlsx_docx_text_and_html_carriers_give_the_same_form(config) -> None:
    f, p = fields(), people()
    xlsx = samples.submission(SW, INBOX, attachments=[("form.xlsx", samples.xlsx_form(f, p))])
    docx = samples.submission(SW, INBOX, attachments=[("form.docx", docx_form(f, p))])
    text = samples.submission(SW, INBOX, body=samples.text_form(f, p))
    html_body = "<html><body><table>" + "".join(
        f"<tr><td>{line.partition(':')[0]}</td><td>{line.partition(':')[2]}</td></tr>"
        for line in samples.text_form(f, p).splitlines()) + "</table></body></html>"
    html = samples.submission(SW, INBOX, body=" ", html=html_body)
    forms = [form_from(m, config) for m in (xlsx, docx, text, html)]
    assert all(form == forms[0] for form in forms)


def test_the_attachment_wins_over_the_body(config) -> None:
    f = fields()
    message = samples.submission(SW, INBOX, body=samples.text_form(fields(Urgency="Routine"), people()),
                                 attachments=[("form.xlsx", samples.xlsx_form(f, people()))])
    assert form_from(message, config).urgency == "Urgent"


def test_two_forms_attached_is_refused(config) -> None:
    x = samples.xlsx_form(fields(), people())
    with pytest.raises(TooManyForms):
        find_form(read_message(samples.submission(SW, INBOX, attachments=[("a.xlsx", x), ("b.xlsx", x)]),
                               config), config)


@pytest.mark.parametrize(("name", "build", "dangerous_words"), [
    ("form.xlsm", hostile.valid_xlsx, "macro"),
    ("form.xlsx", hostile.macro_inside_xlsx, "macros"),
    ("form.xlsx", hostile.encrypted_office_file, "password"),
    ("form.xlsx", hostile.corrupt_xlsx, "damaged"),
    ("form.xlsx", hostile.xxe_xlsx, "entities"),
    ("form.xlsx", hostile.xxe_utf16_xlsx, "entities"),
    ("form.xlsx", hostile.xxe_ebcdic_xlsx, "damaged"),  # expat cannot read EBCDIC at all
    ("form.xlsx", hostile.billion_laughs_xlsx, "entities"),
    ("form.xlsx", hostile.zip_bomb, "zip bomb"),
    ("form.xls", hostile.encrypted_office_file, "old format"),
    ("run.exe", lambda: b"MZ" + b"\0" * 100, "program"),
])
def test_dangerous_or_broken_attachments_are_refused_with_a_reason(
        config, name, build, dangerous_words) -> None:
    message = samples.submission(SW, INBOX, attachments=[(name, build())])
    with pytest.raises(AttachmentRefused) as err:
        find_form(read_message(message, config), config)
    assert dangerous_words in err.value.explanation


def test_a_10000_line_body_is_read_only_up_to_the_limit(config) -> None:
    body = samples.text_form(fields(), people()) + "filler line\n" * 10_000
    raw = find_form(read_message(samples.submission(SW, INBOX, body=body), config), config)
    assert raw is not None and raw.fields["alert_type"] == "Missing child"


def test_a_body_with_no_form_is_not_a_form(config) -> None:
    assert find_form(read_message(samples.submission(SW, INBOX, body="Hello, any news?"), config),
                     config) is None


def test_non_utf8_charsets_are_decoded(config) -> None:
    text = samples.text_form(fields(**{"Local authority": "Conseil général de l'Isère"}), people())
    message = (f"From: {SW}\r\nTo: {INBOX}\r\nSubject: form\r\nMessage-ID: <x@y.test>\r\n"
               "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n").encode() + text.encode("latin-1")
    assert form_from(message, config).local_authority == "Conseil général de l'Isère"


def test_an_unknown_charset_does_not_stop_parsing(config) -> None:
    text = samples.text_form(fields(), people())
    message = (f"From: {SW}\r\nTo: {INBOX}\r\nSubject: form\r\n"
               "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n" + text).encode()
    assert form_from(message, config).alert_type == "Missing child"
