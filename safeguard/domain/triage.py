"""Deciding what one inbound message is and what happens to it. No I/O: the register is seen
only through `find_alert` and `find_sent`, so every branch is testable with plain values."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from safeguard.domain.authentication import GatewayTrust, SenderAuth, Verdict, authenticate
from safeguard.domain.carriers import AttachmentRefused, TooManyForms, find_data_file, find_form
from safeguard.domain.commands import (
    APPROVAL_VERBS,
    HOW_TO_DECIDE,
    HOW_TO_EXTEND,
    HOW_TO_WITHDRAW,
    Acknowledge,
    BounceReport,
    Command,
    ConfirmDigest,
    EmailDecision,
    Extend,
    FgmFile,
    Seen,
    SubjectCommand,
    Update,
    Withdraw,
    body_reason,
    read_subject,
    seen_details,
    withdrawal_reason,
)
from safeguard.domain.config import Config
from safeguard.domain.fgm import MONTH as MONTH_IN_TEXT
from safeguard.domain.fgm import Submission, SubmissionUnreadable, check_file
from safeguard.domain.forms.checks import check_form
from safeguard.domain.forms.model import HealthAlertForm
from safeguard.domain.forms.photos import Photo, PhotoLimits, photo_answer, photo_problems
from safeguard.domain.forms.problems import CheckContext, Problem
from safeguard.domain.forms.values import BadValue, parse_date
from safeguard.domain.message import Bounce, Inbound
from safeguard.domain.status import AlertStatus, MessageKind, Outcome

FGM_SUBJECT = re.compile(r"\bFGM\b", re.IGNORECASE)
FOLDER_FOR = {"accepted": "Processed", "recorded": "Processed", "invalid": "Rejected",
              "quarantined": "Quarantine"}


@dataclass(frozen=True)
class AlertFacts:
    reference: str
    status: AlertStatus
    people_on_record: frozenset[str]
    notified: frozenset[str] = frozenset()  # provider mailboxes that were sent a notice
    alert_type: str = ""
    created_on: date | None = None
    holding: frozenset[str] = frozenset()  # provider mailboxes holding it now (not told of a withdrawal)


@dataclass
class Decision:
    kind: MessageKind
    outcome: Outcome  # accepted | invalid | recorded | quarantined
    reason: str  # a short code, safe to log
    explanation: str = ""  # plain English for the sender and the admin team
    reply: str | None = None  # email template for the sender, if any
    tell_admin: bool = False
    problems: list[Problem] = field(default_factory=list)
    form: HealthAlertForm | None = None
    command: Command | None = None
    alert_ref: str | None = None
    fgm: Submission | None = None  # a checked FGM submission (kind "fgm")
    photos: tuple[Photo, ...] = ()  # re-encoded, to go with the notices (the form says Photo attached: Yes)

    def __post_init__(self) -> None:
        self.kind, self.outcome = MessageKind(self.kind), Outcome(self.outcome)

    @property
    def folder(self) -> str:
        return FOLDER_FOR[self.outcome]


FindAlert = Callable[[str], AlertFacts | None]


@dataclass(frozen=True)
class SentFacts:
    """An email we sent, found by its exact Message-ID (which only we and its recipient's mail
    servers know: see safeguard/adapters/notify/compose.py)."""

    entry_id: int  # the outbox entry
    kind: str  # the outbox kind, e.g. notice:alert
    alert_ref: str | None = None


FindSent = Callable[[str], SentFacts | None]
FindDigest = Callable[[str], str | None]  # a digest reference -> the provider code it was sent to
PROVIDER_VERBS = ("seen", "confirm")  # commands only a provider in the directory may send


def triage(inbound: Inbound, config: Config, today: date, find_alert: FindAlert,
           find_sent: FindSent | None = None, find_digest: FindDigest | None = None) -> Decision:
    service = config.settings.service
    if inbound.header_faults:
        return _quarantine("malformed",
                           "The message's headers are malformed: " + "; ".join(inbound.header_faults))
    if inbound.bounce is not None:
        return _bounce(inbound.bounce, find_sent or (lambda _message_id: None), service.mailbox_address)
    subject = read_subject(inbound.subject, service.reference_prefix, service.secure_subject_marker)
    if inbound.automatic:  # out of office and the like: never a command, never an acknowledgement
        if inbound.attachments:  # not what an automatic reply carries: a person looks, in case it is a form
            return _quarantine("automatic-with-attachment", "The message is marked as an automatic reply but "
                               "carries an attachment: check whether it is a form someone meant to send.",
                               alert_ref=subject.reference)
        return Decision("auto-reply", "recorded", "auto-reply", alert_ref=subject.reference)
    trust = service.sender_authentication
    # see SenderAuthentication
    exchange = trust.exchange_online and config.settings.mailbox.adapter != "maildir"
    auth = authenticate(inbound.auth_results, inbound.exchange_auth_as, inbound.sender,
                        GatewayTrust(trust.required, frozenset(trust.trusted_authserv_ids), exchange))
    if not auth.passed:
        return _unauthenticated(auth, subject.reference)
    sender = inbound.sender or ""
    if subject.verb in APPROVAL_VERBS:
        return _email_decision(inbound, sender, subject, config)
    if provider := config.provider_by_address(sender):
        if FGM_SUBJECT.search(inbound.subject):
            return _fgm(inbound, provider.code, config)
        if subject.verb == "confirm":
            return _confirm(sender, provider.code, subject, find_digest or (lambda _reference: None))
        if subject.verb == "seen":
            return _seen(inbound, sender, subject, find_alert)
        return _provider_mail(sender, subject, find_alert)
    if not config.is_authorised_sender(sender):
        return _quarantine("unauthorised-sender", "The sender is not on an authorised domain.")
    if inbound.reply_to and inbound.reply_to.rpartition("@")[2] != sender.rpartition("@")[2]:
        return _quarantine("reply-to-mismatch", "The Reply-To address is on a different domain from the "
                           "sender (a possible forgery).")
    if subject.verb in PROVIDER_VERBS:
        return _quarantine("provider-command", f"{(subject.verb or '').upper()} came from an address that is "
                           "not a provider's mailbox in the directory, so nothing was changed.",
                           alert_ref=subject.reference if subject.verb == "seen" else None)
    if subject.ambiguous:
        return _ambiguous(subject)
    if subject.verb:
        return _command(inbound, sender, subject, find_alert, config, today)
    return _form(inbound, sender, subject, config, today, find_alert)


_UNAUTHENTICATED = {
    Verdict.FAIL: "The site's mail gateway checked the sender's address and the check failed ({detail}), so "
                  "the message may be forged.",
    Verdict.MISSING: "The message carries no result from the site's mail gateway, so nothing shows who "
                     "really sent it (it may not have come through the gateway).",
    Verdict.UNTRUSTED: "The message's authentication results were not written by the site's mail gateway "
                       "(a sender can add such lines themselves), so nothing shows who really sent it.",
}


def _unauthenticated(auth: SenderAuth, reference: str | None) -> Decision:
    """Nobody is believed on a From line alone: no effect, and no answer to the claimed sender (who
    may not have written it)."""
    explanation = _UNAUTHENTICATED[auth.verdict].format(detail=auth.detail) + (
        " Nothing was changed and the sender was not answered. If the message is genuine, phone the "
        "sender and ask them to send it again from their own work mailbox; if a genuine sender keeps "
        "failing, ask IT to look at their domain's DMARC set-up.")
    return _quarantine(f"auth-{auth.verdict}", explanation, alert_ref=reference)


def _ambiguous(subject: SubjectCommand) -> Decision:
    ref = subject.reference or "HSA-YYYY-NNNNNN"
    return _quarantine("ambiguous-command", "The subject mentions withdrawing or extending an alert but is "
                       "not written as a command, so nothing was changed. A member of the safeguarding team "
                       "will read it. To withdraw an alert: " + HOW_TO_WITHDRAW.format(ref=ref)
                       + " To extend one: " + HOW_TO_EXTEND.format(ref=ref), reply="command_refused",
                       alert_ref=subject.reference)


def _email_decision(inbound: Inbound, sender: str, subject: SubjectCommand, config: Config) -> Decision:
    """APPROVE / REJECT by email: only from a listed approver (authenticated already). The code, the
    alert's state and who may decide are checked against the register when it is recorded."""
    ref, verb = subject.reference or "", (subject.verb or "").upper()
    if config.settings.service.approver_by_email(sender) is None:
        return _quarantine("not-an-approver", f"{verb} for {ref} came from an address that is not a listed "
                           "approver (settings.yaml service.approvers), so nothing was changed and the "
                           "sender was not answered.", alert_ref=ref)
    if inbound.reply_to and inbound.reply_to.rpartition("@")[2] != sender.rpartition("@")[2]:
        return _quarantine("reply-to-mismatch", "The Reply-To address is on a different domain from the "
                           "sender (a possible forgery).", alert_ref=ref)
    approve = subject.verb == "approve"
    reason = "" if approve else body_reason(inbound.text_body) or ""
    if not approve and not reason:
        return _invalid("approval", "no-reason", "To reject an alert, give your reason on a line starting "
                        "Reason: in the body (the sender is told it). " + HOW_TO_DECIDE.format(ref=ref),
                        alert_ref=ref)
    return Decision("approval", "recorded", DECIDED_BY_EMAIL, reply="approval_recorded", alert_ref=ref,
                    command=EmailDecision(ref, approve, subject.code or "", reason))


DECIDED_BY_EMAIL = "decision-by-email"  # Decision.reason of an approval by email (checked when recorded)


def _fgm(inbound: Inbound, provider_code: str, config: Config) -> Decision:
    try:
        attachment = find_data_file(inbound, config)
    except AttachmentRefused as exc:
        if exc.filename == "(none)":
            return Decision("fgm", "invalid", "fgm-no-file", f"The attachment {exc.explanation}.",
                            reply="fgm_received")
        return _quarantine("attachment-refused", f"The attachment '{exc.filename}' {exc.explanation}",
                           reply="attachment_refused")
    except TooManyForms as exc:
        return Decision("fgm", "invalid", "fgm-several-files", f"{exc.count} files are attached. Send one "
                        "file per month.", reply="fgm_received")
    month = MONTH_IN_TEXT.search(inbound.subject)
    try:
        sub = check_file(attachment.data, attachment.filename, config, provider_code,
                         f"{month.group(1)}-{month.group(2)}" if month else None, attachment.document)
    except SubmissionUnreadable as exc:
        return Decision("fgm", "invalid", "fgm-unreadable", str(exc), reply="fgm_received")
    return Decision("fgm", "recorded", "fgm-with-errors" if sub.errors else "fgm-accepted",
                    reply="fgm_received", fgm=sub,
                    command=FgmFile(provider_code, sub.month, attachment.filename))


def _quarantine(reason: str, explanation: str, reply: str | None = None, **kw: Any) -> Decision:
    return Decision("unknown", "quarantined", reason, explanation, reply=reply, tell_admin=True, **kw)


def _invalid(kind: str, reason: str, explanation: str, **kw: Any) -> Decision:
    return Decision(kind, "invalid", reason, explanation, reply="command_refused", **kw)


def _provider_mail(sender: str, subject: SubjectCommand, find_alert: FindAlert) -> Decision:
    facts = find_alert(subject.reference) if subject.reference else None
    if facts is None:
        return _quarantine("provider-mail", "A provider wrote without quoting a known alert reference.")
    if sender not in facts.notified:
        return _quarantine("provider-not-notified", f"A provider wrote about {facts.reference}, which it was "
                           "never sent.", alert_ref=facts.reference)
    return Decision("acknowledgement", "recorded", "acknowledged", alert_ref=facts.reference,
                    command=Acknowledge(facts.reference, sender))


def _seen(inbound: Inbound, sender: str, subject: SubjectCommand, find_alert: FindAlert) -> Decision:
    """SEEN from a provider that holds the alert now: routed at once to the people on record. From a
    provider that never received it (or was told of its withdrawal), nothing changes."""
    facts = find_alert(subject.reference or "")
    if facts is None:
        return _quarantine("seen-unknown", f"A provider sent SEEN for {subject.reference}, which is not an "
                           "alert we hold; nothing was changed. Phone them.", alert_ref=None)
    if sender not in facts.holding:
        return _quarantine("seen-not-holding", f"A provider sent SEEN for {facts.reference}, which it does "
                           "not hold (it was never sent it, or was told of its withdrawal); nothing was "
                           "changed. Phone them if it matters.", alert_ref=facts.reference)
    when, where = seen_details(inbound.text_body)
    return Decision("seen", "recorded", "seen", alert_ref=facts.reference,
                    command=Seen(facts.reference, sender, when, where))


def _confirm(sender: str, code: str, subject: SubjectCommand, find_digest: FindDigest) -> Decision:
    digest = subject.digest or ""
    if find_digest(digest) != code:
        return _quarantine("digest-unknown", f"A provider confirmed {digest}, which is not a digest we sent "
                           "to that provider; nothing was recorded.")
    return Decision("digest-confirm", "recorded", "digest-confirmed", command=ConfirmDigest(digest, sender))


def _command(inbound: Inbound, sender: str, subject: SubjectCommand, find_alert: FindAlert,
             config: Config, today: date) -> Decision:
    ref = subject.reference or ""
    facts = find_alert(ref)
    kind = subject.verb or "unknown"
    if facts is None:
        return _invalid(kind, "unknown-reference", f"We have no alert with the reference {ref}. "
                        "Check the reference in the acknowledgement email we sent you.", alert_ref=None)
    if sender not in _on_record(facts, config):
        return _quarantine("not-on-record", f"{kind.upper()} for {ref} came from someone other than the "
                           "social worker or team manager on record.", alert_ref=ref)
    if facts.status == AlertStatus.WITHDRAWN:
        return _invalid(kind, "already-withdrawn",
                        f"Alert {ref} has already been withdrawn; nothing was changed.", alert_ref=ref)
    if facts.status == AlertStatus.REJECTED:
        return _invalid(kind, "not-approved", f"Alert {ref} was not approved, so no provider holds it; "
                        "nothing was changed.", alert_ref=ref)
    if kind == "withdraw":
        if (reason := withdrawal_reason(inbound.text_body)) is None:
            return _invalid(kind, "withdraw-reason",
                            "We need the reason for the withdrawal, from a fixed list. "
                            + HOW_TO_WITHDRAW.format(ref=ref), alert_ref=ref)
        return Decision(kind, "recorded", "withdraw-requested", reply="command_received", alert_ref=ref,
                        command=Withdraw(ref, reason))
    try:
        new_date = parse_date(subject.extend_to or "")
    except BadValue:
        return _invalid(kind, "extend-date", f"We could not read the new review date. Write the subject as "
                        f"EXTEND {ref} to YYYY-MM-DD.", alert_ref=ref)
    if new_date <= today:
        return _invalid(kind, "extend-date", "The new review date must be after today.", alert_ref=ref)
    alert_type = config.alert_type(facts.alert_type)
    longest = config.longest_review_date(facts.alert_type, facts.created_on) if facts.created_on else None
    if alert_type and longest and new_date > longest:
        return _invalid(kind, "extend-too-long", f"A {alert_type.name} alert may stay active for at most "
                        f"{alert_type.max_lifetime_days} days, so {ref} can be extended to "
                        f"{longest:%d/%m/%Y} at the latest. Send EXTEND {ref} to a date on or before then, "
                        "or a new health alert form if it must stay active for longer.", alert_ref=ref)
    return Decision(kind, "recorded", "extend-requested", reply="command_received", alert_ref=ref,
                    command=Extend(ref, new_date))


def _form(inbound: Inbound, sender: str, subject: SubjectCommand, config: Config, today: date,
          find_alert: FindAlert) -> Decision:
    try:
        raw = find_form(inbound, config)
    except AttachmentRefused as exc:
        return _quarantine("attachment-refused", f"The attachment '{exc.filename}' {exc.explanation}",
                           reply="attachment_refused")
    except TooManyForms as exc:
        return Decision("submission", "invalid", "several-forms", reply="form_invalid", problems=[Problem(
            "Attachments", f"{exc.count} forms are attached. Send one form per email.")])
    if raw is None:
        if subject.reference:
            return _quarantine("correspondence", f"A message about {subject.reference} with no form and no "
                               "command: a person needs to read it.", alert_ref=subject.reference)
        return _quarantine("not-a-submission", "No health alert form was found in the message.",
                           reply="no_form_found")
    form, problems = check_form(raw, CheckContext(today, config))
    answer, limits = form.photo_attached if form else photo_answer(raw), config.settings.limits
    photos = [a for a in inbound.photos() if answer == "Yes" or not a.inline]  # not a signature's pictures
    problems += photo_problems(answer, [a.photo for a in photos], [a.size for a in photos],
                               PhotoLimits(limits.max_photos, limits.max_photo_mb))
    if form is None or problems:
        return Decision("submission", "invalid", "form-problems", reply="form_invalid", problems=problems)
    ref = form.alert_reference or subject.reference
    if ref is None:
        decision = Decision("submission", "accepted", "valid", reply="submission_received", form=form)
    else:
        decision = _update(form, ref, sender, find_alert, config)
    if form.photo_attached == "Yes" and decision.outcome in ("accepted", "recorded"):
        decision.photos = tuple(a.photo for a in photos if a.photo is not None)
    return decision


def _on_record(facts: AlertFacts, config: Config) -> frozenset[str]:
    """Who may command an alert: the social worker and team manager on record (and its submitter).
    The shared admin-team address never, even for an alert it forwarded."""
    return facts.people_on_record - {config.settings.service.admin_team}


def _update(form: HealthAlertForm, ref: str, sender: str, find_alert: FindAlert, config: Config) -> Decision:
    facts = find_alert(ref)
    if facts is None or (form.alert_reference and form.alert_reference != ref):
        return _invalid("update", "unknown-reference", f"The form's Alert reference does not match an alert "
                        f"we hold ({ref}). Leave it blank for a new alert.", alert_ref=None)
    if sender not in _on_record(facts, config):
        return _quarantine("not-on-record", f"An updated form for {ref} came from someone other than the "
                           "social worker or team manager on record.", alert_ref=ref)
    if facts.status == AlertStatus.WITHDRAWN:
        return _invalid("update", "already-withdrawn", f"Alert {ref} has been withdrawn. Send a new form "
                        "with a blank Alert reference to raise a new alert.", alert_ref=ref)
    return Decision("update", "recorded", "update-received", reply="command_received", form=form,
                    alert_ref=ref, command=Update(ref))


def _bounce(bounce: Bounce, find_sent: FindSent, mailbox_address: str) -> Decision:
    """A delivery-status notification. Never answered (it comes from a mail server, and an answer
    could loop). It changes something only if it quotes the exact Message-ID of an email we sent;
    a delay report, or a failure about any other email, is filed and nothing else. A failure to
    deliver the mailbox's own copy (the IMAP adapter's copy to itself) says nothing of the email's
    recipients: it is filed as such."""
    failure = next((f for f in bounce.failed if f.address.lower() != mailbox_address.lower()), None)
    if failure is None and bounce.failed:
        return Decision("bounce", "recorded", "own-copy-undelivered", "The mailbox's own copy of an email "
                        "it sent could not be delivered to it; the email's recipients are not affected.")
    if failure is None:
        reason = "bounce-delayed" if bounce.delayed else "delivery-report"
        return Decision("bounce", "recorded", reason,
                        "A delivery report that reports no failure: nothing to do.")
    sent = next((facts for mid in bounce.original_ids if (facts := find_sent(mid)) is not None), None)
    if sent is None:
        return Decision("bounce", "recorded", "bounce-unmatched", "A report that an email could not be "
                        "delivered, about no email we sent: nothing was changed.")
    return Decision("bounce", "recorded", "bounce", f"An email we sent ({sent.kind}) could not be delivered: "
                    f"{failure.describe()}.", alert_ref=sent.alert_ref,
                    command=BounceReport(sent.entry_id, failure.status, failure.describe(), failure.address))
