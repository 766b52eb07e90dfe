"""Approval of an alert version: what the approver is shown, and recording their decision.

Approval dispatches: the notices for every approved provider are written to the outbox in the
same transaction as the decision, so a crash after the decision still sends them (once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import Alert, AlertVersion, ApprovalStage
from safeguard.adapters.register.repository import Register
from safeguard.domain.config import Config
from safeguard.domain.config.models import Approver
from safeguard.domain.forms.diff import age_band, changes, initials
from safeguard.domain.forms.model import HealthAlertForm
from safeguard.domain.status import ACTIVE, REJECTED, WITHDRAWN, DeliveryStatus, VersionStatus
from safeguard.service_layer.notices import NotSent, Target, queue_notice, resolve, tell_admin
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.subjects import shared_subject_warnings


class DecisionRefused(Exception):
    """A decision that cannot be recorded; the message says why and what to do, in plain English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class ApprovalRequest:
    approve: bool
    by: str
    reason: str = ""
    leave_out: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DecisionOutcome:
    """Codes and counts only: safe for logs and Prefect."""

    reference: str
    version: int
    decision: VersionStatus  # approved | rejected
    notices: dict[str, list[str]] = field(default_factory=dict)  # kind -> provider codes
    not_sent: list[NotSent] = field(default_factory=list)
    approval_run_id: str | None = None  # the Prefect run that was waiting on this version
    stage: str = ""  # a staged approval: the stage just given
    next_stage: str = ""  # ... and the one still needed (decision is then "proposed": no notices yet)

    @property
    def final(self) -> bool:
        return self.decision != VersionStatus.PROPOSED


@dataclass(frozen=True)
class ApprovalSummary:
    """The minimum needed to decide: no names, dates of birth, NHS numbers or addresses."""

    reference: str
    version: int
    alert_type: str
    urgency: str
    local_authority: str
    subjects: list[str]  # "Child ZAQ (13-15)"
    providers: list[str]  # "UHCW: University Hospitals ..."
    review: str
    warnings: list[str]
    changed: list[str]  # field labels, updates only
    codes: list[str] = field(default_factory=list)  # the providers' codes, for the leave-out pick-list
    stages: list[str] = field(default_factory=list)  # a staged approval: what is given and what is next

    def markdown(self) -> str:
        title = f"{self.reference} version {self.version}" if self.version > 1 else self.reference
        lines = [f"## {title}: {'updated alert' if self.version > 1 else 'new alert'} waiting for approval",
                 "", "| | |", "|---|---|", f"| Alert type | {self.alert_type} |",
                 f"| Urgency | {'**Urgent**' if self.urgency == 'Urgent' else self.urgency} |",
                 f"| Requesting local authority | {self.local_authority} |",
                 f"| Subjects | {'; '.join(self.subjects)} |", f"| Review | {self.review} |", "",
                 "**Providers requested** (you may leave any out, but cannot add one):", ""]
        lines += [f"- {p}" for p in self.providers]
        if self.changed:
            lines += ["", "**Changed since the approved version:** " + ", ".join(self.changed)]
        if self.warnings:
            lines += ["", "**Check before approving:**", ""] + [f"- {w}" for w in self.warnings]
        if self.stages:
            lines += ["", "**Approval in stages:**", ""] + [f"- {s}" for s in self.stages]
        lines += ["", "Choose your name from the list of approvers. To reject, give a reason: the sender is "
                  "told it. Pick any providers to leave out. Do not type names or case details here: the "
                  "register keeps your reason and note, and they are removed from Prefect once recorded."]
        return "\n".join(lines)


def summary_for_approval(register: Register, config: Config, reference: str, version: int | None,
                         now: datetime) -> ApprovalSummary | None:
    """What the approval form shows, or None if nothing is waiting for a decision."""
    alert = register.alert(reference)
    pending = register.pending_version(alert) if alert else None
    if alert is None or pending is None or (version is not None and pending.version != version):
        return None
    today = config.local_date(now)
    form = register.form(pending)
    targets, not_sent = resolve(config, form.providers)
    names = {t.provider.code: t.provider.name for t in targets}
    warnings = [f"{n.code} {n.why}: it will not be sent a notice." for n in not_sent]
    warnings += [f"{t.provider.code} is not on a secure domain: its notices carry "
                 f"{t.marker} in the subject." for t in targets if t.marker]
    if len(form.providers) > config.settings.limits.many_providers_warning:
        warnings.append(f"{len(form.providers)} providers requested: check that each one is needed "
                        "(share only what is proportionate).")
    longest = config.longest_review_date(form.alert_type, config.local_date(alert.created_at))
    if longest and form.review_date > longest - timedelta(days=7):
        warnings.append(f"The review date is within a week of the longest a {form.alert_type} alert may run "
                        f"({longest:%d/%m/%Y}).")
    warnings += [w[0].upper() + w[1:] + "." for w in shared_subject_warnings(register, alert)]
    if form.parents_informed == "No":
        warnings.append("The parents have not been informed (the form gives the reason).")
    if form.photo_attached == "Yes":
        warnings.append("Photos are attached to the form: they go to the providers with the notices.")
    changed: list[str] = []
    approved = register.alert_version(alert, alert.current_version) if alert.dispatched_at else None
    if approved is not None and approved.version != pending.version:
        previous = register.form(approved)
        changed = [c.label for c in changes(previous, form)] or ["nothing (the same form was sent again)"]
        active = {d.provider_code for d in register.deliveries(alert) if d.status == DeliveryStatus.NOTIFIED}
        requested = {c.upper() for c in form.providers}
        if added := sorted(requested - active):
            warnings.append("Providers added (they get the full alert): " + ", ".join(added))
        if removed := sorted(active - requested):
            warnings.append("Providers removed (they get a withdrawal notice): " + ", ".join(removed))
    days = (form.review_date - today).days
    return ApprovalSummary(
        reference=alert.reference, version=pending.version, alert_type=form.alert_type, urgency=form.urgency,
        local_authority=form.local_authority,
        subjects=[f"{s.role} {initials(s)} ({age_band(s, today)})" for s in form.subjects],
        providers=[f"{c}: {names.get(c.upper(), 'not available, see warnings')}" for c in form.providers],
        review=f"{form.review_date:%d/%m/%Y} (in {days} days)", warnings=warnings, changed=changed,
        codes=[c.upper() for c in form.providers],
        stages=_stage_lines(register, config, pending, form.alert_type))


def _stage_lines(register: Register, config: Config, pending: AlertVersion, alert_type: str) -> list[str]:
    kind = config.alert_type(alert_type)
    if kind is None or not kind.approval_stages:
        return []
    given = register.approval_stages(pending)
    lines = [f"{g.stage}: approved by {g.approver}" for g in given]
    if len(given) < len(kind.approval_stages):
        lines.append(f"{kind.approval_stages[len(given)]}: waiting (an approver with this role decides now)")
    lines += [f"{stage}: after that" for stage in kind.approval_stages[len(given) + 1:]]
    return lines


def decide(register: Register, config: Config, reference: str, version: int | None, request: ApprovalRequest,
           now: datetime) -> DecisionOutcome:
    """Record an approver's decision on the version waiting for one. Raises DecisionRefused."""
    alert = register.alert(reference.strip())
    if alert is None:
        raise DecisionRefused("unknown-alert", f"There is no alert {reference.strip()}. Check the reference "
                              "(it looks like HSA-2026-000123).")
    pending = register.pending_version(alert)
    if pending is None or (version is not None and pending.version != version):
        raise DecisionRefused("already-decided", nothing_waiting(register, alert, version))
    approver = listed_approver(config, request.by)
    by = approver.name
    form = register.form(pending)
    not_their_own(alert, form, approver)
    requested = [c.upper() for c in form.providers]
    leave_out = [c.strip().upper() for c in request.leave_out if c.strip()]
    if unknown := [c for c in leave_out if c not in requested]:
        raise DecisionRefused("adds-provider", f"You can only leave out providers the form lists "
                              f"({', '.join(requested)}); {', '.join(unknown)} is not one of them. "
                              "Nothing was recorded. To add a provider, ask the social worker for an updated "
                              "form.")
    kept = [c for c in requested if c not in leave_out]
    if not request.approve and not request.reason.strip():
        raise DecisionRefused("no-reason", "Give a reason for rejecting: the sender is told it, so they can "
                              "put it right. Nothing was recorded.")
    if request.approve and not kept:
        raise DecisionRefused("no-providers", "Every provider was left out. Reject the alert instead, with a "
                              "reason. Nothing was recorded.")
    stages = _stages(register, config, pending, form.alert_type, approver, request.approve)
    if stages.now:
        register.add(ApprovalStage(alert_version_id=pending.id, stage=stages.now, approver=by,
                                   decided_at=now))
        register.audit(actor=by, action="approval stage given", at=now, alert_ref=alert.reference,
                       version=pending.version, stage=stages.now, next_stage=stages.next or None)
    if stages.next:
        return DecisionOutcome(alert.reference, pending.version, VersionStatus.PROPOSED,
                               approval_run_id=pending.approval_run_id, stage=stages.now,
                               next_stage=stages.next)
    pending.decided_by, pending.decided_at, pending.left_out = by, now, leave_out
    pending.decision_note = request.note.strip() or None
    if not request.approve:
        return _reject(register, config, alert, pending, request.reason.strip(), now)
    return _approve(register, config, alert, pending, form, kept, now)


def listed_approver(config: Config, name: str) -> Approver:
    """The listed approver of that name (settings.yaml service.approvers). Raises DecisionRefused."""
    approvers = config.settings.service.approvers
    approver = config.settings.service.approver_named(name)
    if approver is None:
        listed = ", ".join(a.name for a in approvers) or "nobody yet"
        raise DecisionRefused("not-an-approver", f"'{' '.join(name.split())[:200]}' is not a listed "
                              f"approver, so nothing was recorded. Give your name exactly as listed (the "
                              f"approvers are: {listed}); to add an approver, ask IT to list them in "
                              "settings.yaml service.approvers.")
    return approver


def not_their_own(alert: Alert, form: HealthAlertForm, approver: Approver) -> None:
    """Segregation of duties: nobody decides on an alert they submitted, or are named on as its
    social worker or team manager."""
    involved = {alert.submitted_by, alert.social_worker_email, alert.team_manager_email,
                form.social_worker_email, form.team_manager_email}
    if approver.email in {(a or "").strip().lower() for a in involved}:
        raise DecisionRefused("own-alert", f"{approver.name} submitted {alert.reference} or is named on it "
                              "as its social worker or team manager, and nobody may approve or reject their "
                              "own alert. Nothing was recorded: ask another listed approver to decide.")


@dataclass(frozen=True)
class _Stages:
    now: str = ""  # the stage this decision gives ("" when the alert type has no stages)
    next: str = ""  # the stage still needed after it ("" when this is the last)


def _stages(register: Register, config: Config, pending: AlertVersion, alert_type: str, approver: Approver,
            approve: bool) -> _Stages:
    """Which stage this approval gives, checked: the approver has that stage's role and gave no
    earlier stage. A rejection at any stage ends the approval. Raises DecisionRefused."""
    kind = config.alert_type(alert_type)
    stages = kind.approval_stages if kind else []
    if not stages:
        return _Stages()
    given = register.approval_stages(pending)
    if any(g.approver == approver.name for g in given):
        raise DecisionRefused("same-approver", f"{approver.name} already gave the {given[-1].stage} stage of "
                              "this alert; another approver must give the next. Nothing was recorded.")
    stage = stages[len(given)]
    if not approve:
        return _Stages()
    if approver.role != stage:
        raise DecisionRefused("wrong-stage", f"This alert now needs its {stage} approval, and "
                              f"{approver.name} is listed as {approver.role or 'having no role'}. Nothing "
                              "was "
                              f"recorded: ask a listed approver with the role {stage}.")
    return _Stages(stage, stages[len(given) + 1] if len(given) + 1 < len(stages) else "")


def nothing_waiting(register: Register, alert: Alert, version: int | None) -> str:
    asked = f" version {version}" if version else ""
    if alert.status == WITHDRAWN:
        return f"{alert.reference} has been withdrawn; there is nothing to decide. Nothing was changed."
    decided = register.alert_version(alert, version or register.latest_version_number(alert))
    if decided is not None and decided.decided_by:
        return (f"{alert.reference}{asked} was already {decided.status} by {decided.decided_by} on "
                f"{decided.decided_at:%d/%m/%Y at %H:%M}. Nothing was changed.")
    return (f"{alert.reference}{asked} has no form waiting for a decision (status {alert.status}). "
            "Nothing was changed.")


def _approve(register: Register, config: Config, alert: Alert, pending: AlertVersion, form: HealthAlertForm,
             kept: list[str], now: datetime) -> DecisionOutcome:
    targets, not_sent = resolve(config, kept)
    previous = register.alert_version(alert, alert.current_version) if alert.dispatched_at else None
    diff = changes(register.form(previous), form) if previous else []
    active = {d.provider_code: d for d in register.deliveries(alert) if d.status == DeliveryStatus.NOTIFIED}
    notices: dict[str, list[str]] = {}

    def send(target: Target, kind: str) -> None:
        queue_notice(register, config, alert=alert, version=pending.version, target=target, kind=kind,  # type: ignore[arg-type]
                     form=form, at=now, changes=diff)
        notices.setdefault(kind, []).append(target.provider.code)

    _apply_version(alert, pending, previous, form, now)
    for target in targets:
        if target.provider.code not in active:
            send(target, "alert")
        elif diff:
            send(target, "update")
    staying = {t.provider.code for t in targets}
    # may hold an earlier one
    bounced = [d.provider_code for d in register.deliveries(alert) if d.status == DeliveryStatus.FAILED]
    leaving_targets, leaving_refused = resolve(config, [c for c in (*active, *bounced) if c not in staying])
    for target in leaving_targets:
        send(target, "withdrawal")
    not_sent += [NotSent(n.code, f"{n.why}, so its withdrawal could not be sent") for n in leaving_refused]
    register.audit(actor=pending.decided_by or "", action="alert approved", at=now, alert_ref=alert.reference,
                   version=pending.version, left_out=pending.left_out, note=pending.decision_note,
                   notices=notices, not_sent=[n.code for n in not_sent])
    outcome = DecisionOutcome(alert.reference, pending.version, VersionStatus.APPROVED, notices, not_sent,
                              pending.approval_run_id)
    _tell_sender(register, config, alert, pending, "alert_dispatched", now, outcome=outcome)
    if not_sent:
        tell_admin(register, config, alert, "some providers were not sent a notice",
                   [f"{n.code} {n.why}." for n in not_sent],
                   key=f"admin:not-sent:{alert.reference}:v{pending.version}", at=now)
    return outcome


def _apply_version(alert: Alert, pending: AlertVersion, previous: AlertVersion | None, form: HealthAlertForm,
                   now: datetime) -> None:
    if previous is not None:
        previous.status = VersionStatus.SUPERSEDED
    pending.status = VersionStatus.APPROVED
    alert.current_version, alert.status, alert.updated_at = pending.version, ACTIVE, now
    alert.alert_type, alert.urgency, alert.review_date = form.alert_type, form.urgency, form.review_date
    alert.social_worker_email, alert.team_manager_email = form.social_worker_email, form.team_manager_email
    alert.dispatched_at = alert.dispatched_at or now


def _reject(register: Register, config: Config, alert: Alert, pending: AlertVersion, reason: str,
            now: datetime) -> DecisionOutcome:
    pending.status, pending.decision_reason = VersionStatus.REJECTED, reason
    if alert.dispatched_at is None:
        alert.status = REJECTED
    alert.updated_at = now
    register.audit(actor=pending.decided_by or "", action="alert rejected", at=now, alert_ref=alert.reference,
                   version=pending.version, reason=reason, note=pending.decision_note)
    _tell_sender(register, config, alert, pending, "alert_rejected", now, reason=reason)
    return DecisionOutcome(alert.reference, pending.version, VersionStatus.REJECTED,
                           approval_run_id=pending.approval_run_id)


def _tell_sender(register: Register, config: Config, alert: Alert, version: AlertVersion, template: str,
                 at: datetime, **data: object) -> None:
    inbound = register.inbound(version.inbound_id)
    to = (inbound.sender if inbound and inbound.sender else None) or alert.social_worker_email
    providers = {p.code: p.name for p in config.providers}
    queue_email(register, key=f"{template}:{alert.reference}:v{version.version}", kind=f"reply:{template}",
                rendered=render_email(template, service=config.settings.service, alert=alert, version=version,
                                      provider_names=providers, **data),
                sender=sender_of(config), recipients=[to], at=at, alert_id=alert.id,
                inbound_id=version.inbound_id, in_reply_to=inbound.message_id if inbound else None)
