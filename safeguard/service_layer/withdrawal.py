"""Withdrawal is actioned by the safeguarding team: a WITHDRAW by email from the social worker or
team manager on record becomes a request that waits for a decision (service.withdrawal_needs_approval),
and a withdrawn alert can be reinstated.

Each function runs inside the caller's transaction: a decision, its notices (in the outbox) and
the emails to the people concerned commit together or not at all. What is shown to Prefect (the
decision form, results, logs) is references, provider codes and names, fixed reasons and counts:
the free-text reason stays in the register.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, Delivery, InboundMessage, WithdrawalRequest
from safeguard.adapters.register.repository import Register
from safeguard.domain.commands import Withdraw
from safeguard.domain.config import Config
from safeguard.domain.status import ACTIVE, WITHDRAWN, DeliveryStatus, RequestKind, RequestStatus
from safeguard.service_layer.approval import DecisionRefused, listed_approver
from safeguard.service_layer.lifecycle import CommandResult, withdraw
from safeguard.service_layer.notices import NotSent, queue_notice, resolve, tell_admin
from safeguard.service_layer.replies import sender_of

FIXED_REASONS = ("Found", "Resolved", "Baby born")
OTHER_REASON = "Other (see the register)"
PENDING, APPROVED, DECLINED, SUPERSEDED = (RequestStatus.PENDING, RequestStatus.APPROVED,
                                          RequestStatus.DECLINED, RequestStatus.SUPERSEDED)
MAX_TEXT = 2000  # the longest reason or note the register keeps from a decision


@dataclass(frozen=True)
class WithdrawalReceipt:
    """What the requester is told at once when their WITHDRAW waits for the safeguarding team."""

    verb: str = "withdraw-requested"
    reply: str = "withdrawal_requested"  # the reply template used instead of the decision's own
    already_pending: bool = False  # a request was already waiting: no second one was made
    request_id: int | None = None


@dataclass(frozen=True)
class WithdrawalAnswer:
    """The safeguarding team's answer to a withdrawal request."""

    approve: bool
    by: str
    reason: str = ""  # required to decline: the requester is told it
    note: str = ""


@dataclass(frozen=True)
class WithdrawalOutcome:
    """Codes and counts only: safe for logs and Prefect."""

    reference: str
    decision: RequestStatus  # approved | declined
    notices: list[str] = field(default_factory=list)  # provider codes sent a withdrawal notice
    not_sent: list[NotSent] = field(default_factory=list)
    approval_run_id: str | None = None


@dataclass(frozen=True)
class ReinstateOutcome:
    reference: str
    notices: list[str] = field(default_factory=list)  # provider codes sent "withdrawal cancelled"
    not_sent: list[NotSent] = field(default_factory=list)


@dataclass(frozen=True)
class WithdrawalSummary:
    """What the decision form shows: no names, no free text."""

    reference: str
    reason: str  # one of FIXED_REASONS, "Not given" or OTHER_REASON
    requested_by: str  # the role on record, not the person
    requested_at: str
    providers: list[str]  # "UHCW: University Hospitals ..."

    def markdown(self) -> str:
        lines = [f"## {self.reference}: withdrawal requested", "", "| | |", "|---|---|",
                 f"| Reason | {self.reason} |", f"| Requested by | {self.requested_by} |",
                 f"| Requested on | {self.requested_at} |", "",
                 "**Providers holding the alert** (each is sent a withdrawal notice if you approve):", ""]
        lines += [f"- {p}" for p in self.providers] or ["- none: no provider holds it"]
        lines += ["", "Approve to withdraw the alert now, or decline with a reason: the requester is told it "
                  "and the alert stays active. Give your full name. Do not type names or case details here: "
                  "the register keeps your answer, and it is removed from Prefect once recorded."]
        return "\n".join(lines)


# the WITHDRAW command ----------------------------------------------------------------------------
def command_reason(command: Withdraw) -> str:
    reason = command.reason.strip()
    return reason[:MAX_TEXT] if reason else "Not given"


def shown_reason(reason: str | None) -> str:
    """The reason as Prefect may show it: a fixed reason, or that the register holds another."""
    text = " ".join((reason or "").split()).casefold()
    for fixed in FIXED_REASONS:
        if text == fixed.casefold():
            return fixed
    return "Not given" if text in ("", "not given") else OTHER_REASON


def on_withdraw_command(register: Register, config: Config, alert: Alert, command: Withdraw,
                        row: InboundMessage, now: datetime) -> CommandResult | WithdrawalReceipt:
    """An authenticated WITHDRAW from the social worker or team manager on record (triage has checked)."""
    reason, sender = command_reason(command), row.sender or ""
    if config.settings.service.withdrawal_needs_approval:
        return request_withdrawal(register, alert, reason, sender, now, row.id)
    return withdraw_at_once(register, config, alert, reason, sender, now, row.id)


def pending_request(register: Register, alert: Alert) -> WithdrawalRequest | None:
    return register.session.scalars(select(WithdrawalRequest).where(
        WithdrawalRequest.alert_id == alert.id, WithdrawalRequest.kind == RequestKind.WITHDRAW,
        WithdrawalRequest.status == PENDING).order_by(WithdrawalRequest.id)).first()


def request_withdrawal(register: Register, alert: Alert, reason: str, requester: str, now: datetime,
                       inbound_id: int | None) -> WithdrawalReceipt:
    """A request waiting for the safeguarding team; while one waits, another WITHDRAW adds none."""
    waiting = pending_request(register, alert)
    if waiting is not None:
        register.audit(actor=requester, action="withdrawal requested again", at=now,
                       alert_ref=alert.reference, inbound_id=inbound_id, request=waiting.id)
        return WithdrawalReceipt(already_pending=True, request_id=waiting.id)
    request = register.add(WithdrawalRequest(alert_id=alert.id, inbound_id=inbound_id,
                                             kind=RequestKind.WITHDRAW, requested_by=requester,
                                             reason=reason, status=PENDING, created_at=now))
    register.audit(actor=requester, action="withdrawal requested", at=now, alert_ref=alert.reference,
                   inbound_id=inbound_id, request=request.id, reason=shown_reason(reason))
    return WithdrawalReceipt(request_id=request.id)


def withdraw_at_once(register: Register, config: Config, alert: Alert, reason: str, requester: str,
                     now: datetime, inbound_id: int | None) -> CommandResult:
    """withdrawal_needs_approval false: withdrawn now, and the social worker and team manager on record
    are both told, so that a mistaken or hostile withdrawal is seen."""
    for waiting in _pending_requests(register, alert):
        waiting.status = SUPERSEDED
    result = withdraw(register, config, alert, reason, requester, now, inbound_id,
                      occasion=_withdrawal_occasion(register, alert))
    people = list(dict.fromkeys(a for a in (alert.social_worker_email, alert.team_manager_email) if a))
    queue_email(register, key=f"withdrawn-told:{alert.reference}:{inbound_id or now.isoformat()}",
                kind="reply:withdrawal_made",
                rendered=render_email("withdrawal_made", service=config.settings.service, alert=alert,
                                      requester=requester, reason=reason, result=result),
                sender=sender_of(config), recipients=people, at=now, alert_id=alert.id, inbound_id=inbound_id)
    return result


def _pending_requests(register: Register, alert: Alert) -> list[WithdrawalRequest]:
    return list(register.session.scalars(select(WithdrawalRequest).where(
        WithdrawalRequest.alert_id == alert.id, WithdrawalRequest.status == PENDING)))


def _withdrawal_occasion(register: Register, alert: Alert) -> str:
    """Withdrawal notice keys after a reinstatement must differ from the first withdrawal's, or the
    outbox would take the second withdrawal for a retry of the first and not send it."""
    count = _reinstatements(register, alert)
    return f"after-reinstatement-{count}" if count else ""


def _reinstatements(register: Register, alert: Alert) -> int:
    return int(register.session.scalar(select(func.count(WithdrawalRequest.id)).where(
        WithdrawalRequest.alert_id == alert.id, WithdrawalRequest.kind == RequestKind.REINSTATE)) or 0)


# the decision form ---------------------------------------------------------------------------------
def _role(alert: Alert, address: str) -> str:
    if address == alert.social_worker_email:
        return "the social worker on record"
    if address == alert.team_manager_email:
        return "the team manager on record"
    return "a person on record when the request was made"


def holding_providers(register: Register, config: Config, alert: Alert) -> list[str]:
    """ "CODE: name" of each provider holding the alert now."""
    names = {p.code: p.name for p in config.providers}
    return [f"{d.provider_code}: {names.get(d.provider_code, 'no longer in the provider directory')}"
            for d in register.deliveries(alert) if d.status == DeliveryStatus.NOTIFIED]


def withdrawal_summary(register: Register, config: Config, reference: str) -> WithdrawalSummary | None:
    """The decision form's content, or None if no withdrawal request waits on this alert."""
    alert = register.alert(reference)
    request = pending_request(register, alert) if alert else None
    if alert is None or request is None:
        return None
    when = config.local(request.created_at)
    return WithdrawalSummary(reference=alert.reference, reason=shown_reason(request.reason),
                             requested_by=_role(alert, request.requested_by),
                             requested_at=f"{when:%d/%m/%Y at %H:%M}",
                             providers=holding_providers(register, config, alert))


def requests_without_run(register: Register) -> list[str]:
    """References of alerts whose withdrawal request waits with no decision run recorded."""
    rows = register.session.execute(select(Alert.reference).join(WithdrawalRequest,
                                                                 WithdrawalRequest.alert_id == Alert.id)
                                    .where(WithdrawalRequest.kind == RequestKind.WITHDRAW,
                                           WithdrawalRequest.status == PENDING,
                                           WithdrawalRequest.approval_run_id.is_(None))
                                    .order_by(WithdrawalRequest.id))
    return [reference for (reference,) in rows]


# deciding ------------------------------------------------------------------------------------------
def decide_withdrawal(register: Register, config: Config, reference: str, answer: WithdrawalAnswer,
                      now: datetime) -> WithdrawalOutcome:
    """Record the safeguarding team's decision on the waiting request. Raises DecisionRefused."""
    alert = register.alert(reference.strip())
    if alert is None:
        raise DecisionRefused("unknown-alert", f"There is no alert {reference.strip()}. Check the reference "
                              "(it looks like HSA-2026-000123).")
    request = pending_request(register, alert)
    if request is None:
        raise DecisionRefused("already-decided", _nothing_waiting(register, alert))
    by = listed_approver(config, answer.by).name
    reason, note = answer.reason.strip()[:MAX_TEXT], answer.note.strip()[:MAX_TEXT]
    if not answer.approve and not reason:
        raise DecisionRefused("no-reason", "Give a reason for declining: the requester is told it. "
                              "Nothing was recorded.")
    request.decided_by, request.decided_at = by, now
    if not answer.approve:
        request.status = DECLINED
        request.decision_note = reason + (f"\n\nNote: {note}" if note else "")
        register.audit(actor=by, action="withdrawal declined", at=now, alert_ref=alert.reference,
                       request=request.id, reason=reason, note=note or None)
        _tell_requester(register, config, alert, request, "withdrawal_declined", now, reason=reason)
        return WithdrawalOutcome(alert.reference, DECLINED, approval_run_id=request.approval_run_id)
    request.status, request.decision_note = APPROVED, note or None
    result = withdraw(register, config, alert, request.reason or "Not given", by, now, request.inbound_id,
                      occasion=_withdrawal_occasion(register, alert))
    codes = [d.provider_code for d in register.deliveries(alert)
             if d.status == DeliveryStatus.WITHDRAWN and d.withdrawn_at == now]
    register.audit(actor=by, action="withdrawal approved", at=now, alert_ref=alert.reference,
                   request=request.id, requested_by=request.requested_by, note=note or None, notices=codes)
    _tell_requester(register, config, alert, request, "withdrawal_approved", now, result=result)
    return WithdrawalOutcome(alert.reference, APPROVED, codes, list(result.not_sent), request.approval_run_id)


def _nothing_waiting(register: Register, alert: Alert) -> str:
    last = register.session.scalars(select(WithdrawalRequest).where(
        WithdrawalRequest.alert_id == alert.id, WithdrawalRequest.kind == RequestKind.WITHDRAW,
        WithdrawalRequest.decided_by.is_not(None)).order_by(WithdrawalRequest.id.desc())).first()
    if last is not None and last.decided_at is not None:
        return (f"The withdrawal of {alert.reference} was already {last.status} by {last.decided_by} on "
                f"{last.decided_at:%d/%m/%Y at %H:%M}. Nothing was changed.")
    return (f"No withdrawal of {alert.reference} is waiting for a decision (status {alert.status}). "
            "Nothing was changed.")


def _tell_requester(register: Register, config: Config, alert: Alert, request: WithdrawalRequest,
                    template: str, at: datetime, **data: object) -> None:
    inbound = register.inbound(request.inbound_id)
    queue_email(register, key=f"{template}:{alert.reference}:{request.id}", kind=f"reply:{template}",
                rendered=render_email(template, service=config.settings.service, alert=alert, request=request,
                                      **data),
                sender=sender_of(config), recipients=[request.requested_by], at=at, alert_id=alert.id,
                inbound_id=request.inbound_id, in_reply_to=inbound.message_id if inbound else None)


def record_decision_run(register: Register, reference: str, run_id: str) -> bool:
    """Remember which Prefect run waits on this alert's withdrawal request."""
    alert = register.alert(reference)
    request = pending_request(register, alert) if alert else None
    if request is None:
        return False
    request.approval_run_id = run_id
    return True


def reinstate(register: Register, config: Config, reference: str, by: str, reason: str,
              now: datetime) -> ReinstateOutcome:
    """A withdrawn alert becomes active again; each provider told of its withdrawal is sent a
    "withdrawal cancelled: flag again" notice. Raises DecisionRefused."""
    alert = register.alert(reference.strip())
    if alert is None:
        raise DecisionRefused("unknown-alert", f"There is no alert {reference.strip()}. Check the reference "
                              "(it looks like HSA-2026-000123).")
    reason = reason.strip()[:MAX_TEXT]
    if refusal := _not_reinstatable(register, alert):
        raise DecisionRefused("not-withdrawn", refusal)
    by = listed_approver(config, by).name
    if not reason:
        raise DecisionRefused("no-reason",
                              "Give a reason for reinstating: the register keeps it. Nothing was changed.")
    told = told_of_withdrawal(register, alert)
    register.add(WithdrawalRequest(alert_id=alert.id, kind=RequestKind.REINSTATE, requested_by=by,
                                   reason=reason, status=APPROVED, created_at=now, decided_by=by,
                                   decided_at=now))
    targets, not_sent = resolve(config, [d.provider_code for d in told])
    version = register.alert_version(alert, alert.current_version)
    assert version is not None
    form, occasion = register.form(version), f"reinstated-{_reinstatements(register, alert) + 1}"
    alert.status, alert.withdrawn_at, alert.updated_at = ACTIVE, None, now
    for target in targets:
        queue_notice(register, config, alert=alert, version=alert.current_version, target=target,
                     kind="reinstatement", form=form, at=now, occasion=occasion)
    codes = [t.provider.code for t in targets]
    register.audit(actor=by, action="alert reinstated", at=now, alert_ref=alert.reference, reason=reason,
                   notices=codes, not_sent=[n.code for n in not_sent])
    if not_sent:
        tell_admin(register, config, alert,
                   "withdrawal-cancelled notices could not be sent to every provider",
                   [f"{n.code} {n.why}: tell them another way that the alert is active again."
                    for n in not_sent],
                   key=f"admin:not-sent:{alert.reference}:{occasion}", at=now)
    return ReinstateOutcome(alert.reference, codes, not_sent)


def told_of_withdrawal(register: Register, alert: Alert) -> list[Delivery]:
    """The deliveries withdrawn by the alert's own withdrawal (not those an update removed earlier)."""
    return [d for d in register.deliveries(alert)
            if d.status == DeliveryStatus.WITHDRAWN and alert.withdrawn_at is not None
            and d.withdrawn_at == alert.withdrawn_at]


def _not_reinstatable(register: Register, alert: Alert) -> str | None:
    """Why this alert cannot be reinstated, in plain English (references and statuses only), or None."""
    if alert.status != WITHDRAWN:
        words = {ACTIVE: "is active", "AWAITING_APPROVAL": "is waiting for approval",
                 "REJECTED": "was not approved"}.get(alert.status, f"has status {alert.status}")
        return (f"{alert.reference} {words}, not withdrawn, so there is nothing to reinstate. "
                "Nothing was changed.")
    if alert.dispatched_at is None:
        return (f"{alert.reference} was withdrawn before any provider was sent it, so there is nothing to "
                "reinstate. Ask the social worker to send the form again as a new alert. "
                "Nothing was changed.")
    version = register.alert_version(alert, alert.current_version)
    if version is None or version.form.get("erased"):
        return (f"{alert.reference}'s details have been erased under the retention policy, so it cannot be "
                "reinstated. Ask the social worker for a new form. Nothing was changed.")
    return None


def reinstatement_summary(register: Register, config: Config, reference: str) -> tuple[bool, str]:
    """(True, the reinstate form's text) or (False, why it cannot be reinstated): no personal data."""
    alert = register.alert(reference.strip())
    if alert is None:
        return False, (f"There is no alert {reference.strip()}. "
                       "Check the reference (it looks like HSA-2026-000123).")
    if refusal := _not_reinstatable(register, alert):
        return False, refusal
    names = {p.code: p.name for p in config.providers}
    assert alert.withdrawn_at is not None
    when = config.local(alert.withdrawn_at)
    told = [f"- {d.provider_code}: {names.get(d.provider_code, 'no longer in the provider directory')}"
            for d in told_of_withdrawal(register, alert)]
    lines = [f"## Reinstate {alert.reference}", "",
             f"Withdrawn on {when:%d/%m/%Y at %H:%M}. Reinstating makes it active again and sends each "
             "provider told of the withdrawal a \"withdrawal cancelled: flag again\" notice:", "",
             *(told or ["- none: no provider was told of the withdrawal"]), "",
             "Tick reinstate, give your full name and a reason. Do not type names or case details here: the "
             "register keeps your answer, and it is removed from Prefect once recorded."]
    return True, "\n".join(lines)
