"""Photos on the Maildir adapter, against SQLite and PostgreSQL: re-encoded without EXIF/GPS, kept
encrypted, sent to each provider with the alert and update notices only when the form says Photo
attached: Yes, answered as problems otherwise, and erased with the alert's personal data."""

from __future__ import annotations

import io
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, text

from safeguard.adapters.register.orm import AlertPhoto, InboundMessage
from safeguard.adapters.workbooks.reader import Reader, ReaderLimits
from safeguard.domain.forms.photos import UNREADABLE
from safeguard.service_layer.approval import ApprovalRequest
from safeguard.service_layer.dispatch import approval_summary, give_decision, send_alert_email
from safeguard.service_layer.intake import IntakeContext, process_message
from safeguard.service_layer.retention import erase_expired
from testkit import samples
from tests.conftest import NOW, put
from tests.factories import INBOX, SW, fields, people
from tests.withdrawals import approve_withdrawal

UHCW, SWFT = "safeguarding@uhcw.test", "safeguarding.team@swft.test"


def run(ctx: IntakeContext) -> list:
    return [process_message(mid, ctx) for mid in ctx.mailbox.list_new()]


def received(ctx: IntakeContext, address: str) -> list[EmailMessage]:
    root: Path = ctx.mailbox.deliver_to / address / "new"  # type: ignore[attr-defined, operator]
    paths = sorted(root.glob("*"), key=lambda p: p.stat().st_mtime_ns) if root.exists() else []
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]  # type: ignore[misc]


def images(message: EmailMessage) -> list[Image.Image]:
    return [Image.open(io.BytesIO(part.get_content())) for part in message.walk()
            if part.get_content_maintype() == "image"]


def with_photos(answer: str, photos: int = 1, carrier: str = "text", **form: str) -> bytes:
    attachments = [(f"IMG_{n}.jpg", samples.photo_with_gps()) for n in range(1, photos + 1)]
    form_fields = fields(**{"Photo attached": answer, **form})
    if carrier == "xlsx":
        workbook = ("form.xlsx", samples.xlsx_form(form_fields, people()))
        return samples.submission(SW, INBOX, attachments=[workbook, *attachments])
    body = samples.text_form(form_fields, people())
    return samples.submission(SW, INBOX, body=body, attachments=attachments)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (30, 20), (0, 94, 184, 255)).save(out, "PNG")
    return out.getvalue()


def approve(ctx: IntakeContext, ref: str, version: int = 1) -> None:
    give_decision(ctx, ref, version, ApprovalRequest(True, "Dana Nightingale"))
    send_alert_email(ctx, ref)


def test_a_photo_with_gps_reaches_each_provider_without_exif_and_is_kept_encrypted(
        intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, with_photos("Yes", carrier="xlsx"))
    [result] = run(intake_ctx)
    assert (result.outcome, result.reason) == ("accepted", "valid")
    with intake_ctx.uow() as u:
        stored = u.session.execute(text("SELECT data FROM alert_photos")).scalars().all()
        assert len(stored) == 1 and bytes(stored[0]).startswith(b"gAAAAA")  # a Fernet token, not a JPEG
        assert u.session.scalars(select(AlertPhoto)).one().data.startswith(b"\xff\xd8")
    summary = approval_summary(intake_ctx, result.reference, 1)
    assert summary is not None and "Photos are attached to the form" in summary.markdown()
    approve(intake_ctx, result.reference)
    for provider in (UHCW, SWFT):
        [notice] = received(intake_ctx, provider)
        [image] = images(notice)
        assert image.format == "JPEG" and dict(image.getexif()) == {} and "exif" not in image.info
        assert "photos sent with the form are attached" in notice.get_body(("plain",)).get_content()
    assert all(images(m) == [] for m in received(intake_ctx, SW))  # the sender's receipts carry none


def test_photos_go_with_an_update_notice_but_never_with_a_withdrawal(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, with_photos("No", photos=0))
    [result] = run(intake_ctx)
    approve(intake_ctx, result.reference)
    first = received(intake_ctx, UHCW)[0]
    assert images(first) == [] and "photos" not in first.get_body(("plain",)).get_content()
    put(intake_ctx.mailbox, samples.submission(SW, INBOX, subject=result.reference, body=samples.text_form(
        fields(**{"Photo attached": "Yes", "Alert reference": result.reference}), people()),
        attachments=[("a.jpg", samples.photo_with_gps()), ("b.png", png())]))
    [update] = run(intake_ctx)
    assert (update.outcome, update.reason) == ("recorded", "update-received")
    approve(intake_ctx, result.reference, 2)
    notice = received(intake_ctx, UHCW)[-1]
    assert "update" in str(notice["Subject"]).lower()
    assert [image.format for image in images(notice)] == ["JPEG", "PNG"]
    put(intake_ctx.mailbox, samples.submission(SW, INBOX, subject=f"WITHDRAW {result.reference}",
                                               body="Reason: Found\n"))
    run(intake_ctx)
    approve_withdrawal(intake_ctx, result.reference)
    withdrawal = received(intake_ctx, UHCW)[-1]
    assert "withdrawn" in str(withdrawal["Subject"]).lower() and images(withdrawal) == []


def problems_of(ctx: IntakeContext, inbound_id: int) -> list[str]:
    with ctx.uow() as u:
        row = u.session.get(InboundMessage, inbound_id)
        assert row is not None
        return [f"{p['label']}: {p['message']}" for p in row.problems]


def test_no_with_a_photo_and_yes_without_one_are_answered_as_problems(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, with_photos("No"))
    put(intake_ctx.mailbox, with_photos("Yes", photos=0))
    results = run(intake_ctx)
    assert [(r.outcome, r.reason) for r in results] == [("invalid", "form-problems")] * 2
    answers = sorted(problems_of(intake_ctx, r.inbound_id)[0] for r in results)
    assert answers[0].startswith("Photo attached: is No but 1 photo(s) are attached.")
    assert answers[1].startswith("Photo attached: is Yes but no photo is attached.")
    replies = [m.get_body(("plain",)).get_content() for m in received(intake_ctx, SW)]
    assert len(replies) == 2 and all("Photo attached" in reply for reply in replies)
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).select_from(AlertPhoto)) == 0


def test_a_decompression_bomb_or_a_broken_photo_is_a_problem_and_the_next_form_is_answered(
        intake_ctx: IntakeContext) -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")
    for name, data in (("huge.png", bomb.getvalue()), ("broken.jpg", samples.photo_with_gps()[:400])):
        put(intake_ctx.mailbox, samples.submission(SW, INBOX, body=samples.text_form(
            fields(**{"Photo attached": "Yes"}), people()), attachments=[(name, data)]))
    put(intake_ctx.mailbox, with_photos("Yes"))
    results = run(intake_ctx)
    assert sorted(r.outcome for r in results) == ["accepted", "invalid", "invalid"]
    found = sorted(problem for r in results if r.outcome == "invalid"
                   for problem in problems_of(intake_ctx, r.inbound_id))
    assert found[0].startswith("Photos: photo 1 could not be read as a .jpg or .png photo")
    assert found[1] == "Photos: photo 1 has more than 40 million pixels. Send a smaller copy."


def test_retention_erases_an_alerts_photos(intake_ctx: IntakeContext) -> None:
    put(intake_ctx.mailbox, with_photos("Yes"))
    [result] = run(intake_ctx)
    approve(intake_ctx, result.reference)
    put(intake_ctx.mailbox, samples.submission(SW, INBOX, subject=f"WITHDRAW {result.reference}",
                                               body="Reason: Found\n"))
    run(intake_ctx)
    approve_withdrawal(intake_ctx, result.reference)
    with intake_ctx.uow() as u:
        assert erase_expired(u, intake_ctx.config, NOW + timedelta(days=731)) == [result.reference]
        u.commit()
    with intake_ctx.uow() as u:
        assert u.session.scalar(select(func.count()).select_from(AlertPhoto)) == 0


def with_picture_in_the_body(answer: str) -> bytes:
    """A form whose only image is shown inside the HTML body (a signature's logo, or a photo as some
    mail programs send it): inline, with a Content-ID the HTML refers to."""
    message = EmailMessage()
    message["Authentication-Results"] = samples.gateway_stamp(SW)
    message["From"], message["To"], message["Subject"] = SW, INBOX, "Health alert form"
    message.set_content(samples.text_form(fields(**{"Photo attached": answer}), people()))
    message.add_alternative('<p>See the form above.</p><img src="cid:logo@council">', subtype="html")
    html = message.get_payload()[1]
    html.add_related(samples.photo_with_gps(), maintype="image", subtype="jpeg", cid="<logo@council>",
                     filename="image001.jpg", disposition="inline")
    return message.as_bytes()


def test_a_picture_inside_the_body_is_no_photo_unless_the_form_says_yes(intake_ctx: IntakeContext) -> None:
    results = []
    for answer in ("No", "Yes"):  # one after the other, so the second alert is the one with a photo
        put(intake_ctx.mailbox, with_picture_in_the_body(answer))
        results += run(intake_ctx)
    assert [(r.outcome, r.reason) for r in results] == [("accepted", "valid")] * 2
    with intake_ctx.uow() as u:
        assert [(p.alert_id, p.content_type) for p in u.session.scalars(select(AlertPhoto))] == [
            (2, "image/jpeg")]


def test_a_photo_the_reader_cannot_finish_in_time_is_a_problem_and_the_next_photo_is_read() -> None:
    hurried, patient = Reader(ReaderLimits(0.0001, 256)), Reader(ReaderLimits(10, 256))
    try:
        assert hurried.read_photo(samples.photo_with_gps(), 40_000_000) == UNREADABLE
        assert patient.read_photo(samples.photo_with_gps(), 40_000_000).content_type == "image/jpeg"
    finally:
        hurried.stop()
        patient.stop()
