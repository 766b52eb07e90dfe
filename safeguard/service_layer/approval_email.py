"""Approval by email: every listed approver is sent, for each alert version waiting for a decision,
an email with its reference, a link to the Prefect UI and a one-time code (nothing else). A reply
`APPROVE HSA-… CODE` or `REJECT HSA-… CODE` from that approver's own, authenticated address
records the decision exactly as the Prefect form would.

The codes are kept only as keyed hashes (SAFEGUARD_HASH_KEY) bound to the version and the
approver; each works once, and a newer version or a decision ends them all.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.crypto import keyed_hash
from safeguard.adapters.register.orm import Alert, AlertVersion, ApprovalCode
from safeguard.adapters.register.repository import Register
from safeguard.domain.commands import CODE_ALPHABET, CODE_LENGTH, EmailDecision
from safeguard.domain.config import Config
from safeguard.service_layer.approval import (
    ApprovalRequest,
    DecisionOutcome,
    DecisionRefused,
    decide,
    not_their_own,
    nothing_waiting,
)
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.subjects import shared_subject_warnings


def runs_link(config: Config) -> str:
    """Where approvers find the waiting runs (each is named with its alert's reference)."""
    return f"{config.settings.service.prefect_ui_url.rstrip('/')}/runs"


def _hash(version: AlertVersion, approver_email: str, code: str) -> str:
    return keyed_hash(f"approval-code:{version.id}:{approver_email}:{code.strip().upper()}")


def ask_approvers(register: Register, config: Config, alert: Alert, version: AlertVersion,
                  now: datetime, shared: list[str] | None = None) -> int:
    """Queue the approval-needed email, with a fresh one-time code, to each listed approver who may
    decide this new version (not the alert's own submitter, social worker or team manager). Returns how
    many were queued. `shared`: the alert's shared-subject warnings, when the caller has them."""
    involved = {alert.submitted_by, alert.social_worker_email, alert.team_manager_email}
    shared = shared_subject_warnings(register, alert) if shared is None else shared
    queued = 0
    for approver in config.settings.service.approvers:
        if approver.email in involved:
            continue
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        register.add(ApprovalCode(alert_version_id=version.id, approver_email=approver.email,
                                  code_hash=_hash(version, approver.email, code), created_at=now))
        queue_email(register, key=f"approval-needed:{alert.reference}:v{version.version}:{approver.email}",
                    kind="admin:approval-needed",
                    rendered=render_email("approval_needed", service=config.settings.service,
                                          reference=alert.reference, version=version.version,
                                          urgent=alert.urgency == "Urgent", link=runs_link(config),
                                          code=code, shared=shared),
                    sender=sender_of(config), recipients=[approver.email], at=now, alert_id=alert.id,
                    inbound_id=version.inbound_id)  # sent with the message's reply, at once
        queued += 1
    return queued


def decide_by_email(register: Register, config: Config, command: EmailDecision, sender: str,
                    now: datetime) -> DecisionOutcome:
    """Record an approver's emailed decision, after checking their one-time code. Raises
    DecisionRefused (in plain words) for a wrong or used code, or anything the form would refuse."""
    approver = config.settings.service.approver_by_email(sender)
    if approver is None:  # triage quarantines these; checked again here, where it is acted on
        raise DecisionRefused("not-an-approver", "Only a listed approver may approve or reject an alert by "
                              "email. Nothing was changed.")
    alert = register.alert(command.reference)
    if alert is None:
        raise DecisionRefused("unknown-alert", f"There is no alert {command.reference}. Check the reference "
                              "in the approval email. Nothing was changed.")
    pending = register.pending_version(alert)
    if pending is None:
        raise DecisionRefused("already-decided", nothing_waiting(register, alert, None))
    not_their_own(alert, register.form(pending), approver)  # said first: no code was sent to them
    stored = register.approval_code(pending, approver.email)
    if (stored is None or stored.used_at is not None
            or not hmac.compare_digest(stored.code_hash, _hash(pending, approver.email, command.code))):
        raise DecisionRefused("wrong-code", f"The code in your subject line is not the one we sent you for "
                              f"{alert.reference} version {pending.version}, or it was used already. Nothing "
                              "was changed. Use the code in the newest approval email about this alert (each "
                              "code works once, for one version), or decide in the Prefect UI.")
    outcome = decide(register, config, command.reference, pending.version,
                     ApprovalRequest(command.approve, approver.name, command.reason, note="decided by email"),
                     now)
    stored.used_at = now
    return outcome
