"""Writing a decision to the register: the message, any new alert or form version, replies, audit."""

from __future__ import annotations

from datetime import datetime

from safeguard.adapters.mail.inbound import Inbound
from safeguard.adapters.register.orm import Alert, AlertVersion, InboundMessage
from safeguard.adapters.register.repository import Register
from safeguard.domain.commands import (
    BounceReport,
    ConfirmDigest,
    EmailDecision,
    Extend,
    FgmFile,
    Seen,
    Withdraw,
    command_to_json,
)
from safeguard.domain.config import Config
from safeguard.domain.status import AWAITING_APPROVAL, MessageKind, Outcome, VersionStatus
from safeguard.domain.triage import Decision
from safeguard.service_layer.approval import DecisionOutcome, DecisionRefused
from safeguard.service_layer.approval_email import ask_approvers, decide_by_email
from safeguard.service_layer.digests import confirm_digest
from safeguard.service_layer.fgm_intake import store_submission
from safeguard.service_layer.lifecycle import CommandResult, acknowledge, bounced, extend
from safeguard.service_layer.photos import keep_photos
from safeguard.service_layer.replies import queue_replies
from safeguard.service_layer.sightings import route_seen
from safeguard.service_layer.subjects import record_subject_keys, shared_subject_warnings
from safeguard.service_layer.withdrawal import WithdrawalReceipt, on_withdraw_command

# decisions that act on an alert (an auto-reply never does)
COMMANDS = (MessageKind.WITHDRAW, MessageKind.EXTEND, MessageKind.ACKNOWLEDGEMENT, MessageKind.SEEN)


def record_decision(register: Register, config: Config, inbound: Inbound, decision: Decision,
                    mailbox_id: str, now: datetime) -> tuple[InboundMessage, Alert | None]:
    decided = _email_decision(register, config, inbound, decision, now)
    row = register.add(InboundMessage(
        dedup_key=inbound.dedup_key, content_sha256=inbound.content_sha256, message_id=inbound.message_id,
        mailbox_id=mailbox_id, sender=inbound.sender, received_at=now, kind=decision.kind,
        outcome=decision.outcome, folder=decision.folder, reason=decision.reason,
        problems=[{"label": p.label, "message": p.message} for p in decision.problems],
        command=command_to_json(decision.command), copies=1,
    ))
    register.audit(actor=inbound.sender or "unknown sender", action="message received", at=now,
                   inbound_id=row.id, alert_ref=decision.alert_ref, kind=decision.kind,
                   outcome=decision.outcome, reason=decision.reason, problems=len(decision.problems))
    alert, shared = (_new_alert(register, config, decision, row, now) if decision.outcome == Outcome.ACCEPTED
                     else (None, []))
    if decision.kind == MessageKind.UPDATE and decision.outcome == Outcome.RECORDED:
        alert = _new_version(register, config, decision, row, now)
    result: object = decided
    command = decision.command
    if decided is not None:
        alert = register.alert(decided.reference)
        register.audit(actor=inbound.sender or "unknown sender", action="decision by email received", at=now,
                       alert_ref=decided.reference, inbound_id=row.id, version=decided.version,
                       decision=decided.decision, stage=decided.stage or None)
    elif isinstance(command, BounceReport):
        alert = bounced(register, config, command, inbound.sender or "unknown sender", now, row.id)
    elif decision.kind == MessageKind.FGM and decision.fgm is not None:
        provider = config.provider_by_address(row.sender or "")
        assert provider is not None
        result = store_submission(register, config, provider.code, decision.fgm, source="email",
                                  filename=command.file if isinstance(command, FgmFile) else "", now=now,
                                  inbound_id=row.id)
    elif isinstance(command, ConfirmDigest):
        confirm_digest(register, command, now, row.id)
    elif decision.alert_ref and decision.outcome == Outcome.RECORDED and decision.kind in COMMANDS:
        alert = register.alert(decision.alert_ref)
        assert alert is not None
        register.audit(actor=inbound.sender or "unknown sender", action=f"{decision.kind} received", at=now,
                       alert_ref=decision.alert_ref, inbound_id=row.id, **(command_to_json(command) or {}))
        result = _apply_command(register, config, alert, decision, row, now)
    row.alert_id = alert.id if alert else None
    queue_replies(register, config, row, decision, alert, inbound.message_id, now, result, shared=shared)
    return row, alert


def _email_decision(register: Register, config: Config, inbound: Inbound, decision: Decision,
                    now: datetime) -> DecisionOutcome | None:
    """An approver's APPROVE / REJECT by email, recorded before the message itself: a refusal (wrong
    code, already decided, their own alert...) turns the decision into an answer saying why."""
    command = decision.command
    if not isinstance(command, EmailDecision) or decision.outcome != Outcome.RECORDED:
        return None
    try:
        return decide_by_email(register, config, command, inbound.sender or "", now)
    except DecisionRefused as refusal:
        decision.outcome, decision.reason = Outcome.INVALID, refusal.code
        decision.explanation, decision.reply = refusal.message, "command_refused"
        return None


def _apply_command(register: Register, config: Config, alert: Alert, decision: Decision, row: InboundMessage,
                   now: datetime) -> CommandResult | WithdrawalReceipt:
    command, sender = decision.command, row.sender or ""
    if isinstance(command, Withdraw):
        return on_withdraw_command(register, config, alert, command, row, now)
    if isinstance(command, Extend):
        return extend(register, config, alert, command.review_date, sender, now, row.id)
    if isinstance(command, Seen):
        return route_seen(register, config, alert, command, row, now)
    provider = config.provider_by_address(sender)
    assert provider is not None
    return acknowledge(register, alert, provider.code, sender, now)


def _new_alert(register: Register, config: Config, decision: Decision, row: InboundMessage,
               now: datetime) -> tuple[Alert, list[str]]:
    """The alert, and the warnings that it shares a subject with other alerts (see subjects.py), worked
    out once for the approvers' emails and the sender's receipt."""
    form = decision.form
    assert form is not None
    service = config.settings.service
    year = config.local(now).year
    alert = register.add(Alert(
        reference=register.next_reference(service.reference_prefix, year), status=AWAITING_APPROVAL,
        alert_type=form.alert_type, urgency=form.urgency, created_at=now, updated_at=now,
        submitted_by=row.sender or "", social_worker_email=form.social_worker_email,
        team_manager_email=form.team_manager_email, review_date=form.review_date, current_version=1,
    ))
    version = register.add(AlertVersion(alert_id=alert.id, version=1, status=VersionStatus.PROPOSED,
                                        form=form.to_json(), inbound_id=row.id, created_at=now,
                                        expected_delivery=form.expected_delivery))
    keep_photos(register, alert, 1, decision.photos, now)
    register.audit(actor="system", action="alert created", at=now, alert_ref=alert.reference,
                   inbound_id=row.id, status=AWAITING_APPROVAL, alert_type=form.alert_type,
                   urgency=form.urgency, providers=list(form.providers))
    shared = shared_subject_warnings(register, alert, record_subject_keys(register, alert, form))
    ask_approvers(register, config, alert, version, now, shared=shared)
    return alert, shared


def _new_version(register: Register, config: Config, decision: Decision, row: InboundMessage,
                 now: datetime) -> Alert:
    assert decision.form is not None and decision.alert_ref is not None
    alert = register.alert(decision.alert_ref)
    assert alert is not None
    version = register.latest_version_number(alert) + 1
    for older in register.versions(alert):
        if older.status == VersionStatus.PROPOSED:  # never decided: the newer form replaces it
            older.status = VersionStatus.SUPERSEDED
    added = register.add(AlertVersion(alert_id=alert.id, version=version, status=VersionStatus.PROPOSED,
                                      form=decision.form.to_json(), inbound_id=row.id, created_at=now,
                                      expected_delivery=decision.form.expected_delivery))
    keep_photos(register, alert, version, decision.photos, now)
    record_subject_keys(register, alert, decision.form)
    register.audit(actor=row.sender or "unknown sender", action="updated form received", at=now,
                   alert_ref=alert.reference, inbound_id=row.id, version=version)
    ask_approvers(register, config, alert, added, now)
    return alert
