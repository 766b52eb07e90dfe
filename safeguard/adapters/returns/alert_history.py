"""One alert's full history as a workbook a Designated Nurse can hand to a case review.

It holds personal data (the form versions): it is written only on request, to a path the user
chooses, and the export itself goes in the audit log.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.audit_check import EntriesProof, prove_entries
from safeguard.adapters.register.orm import AuditEntry, InboundMessage
from safeguard.adapters.register.repository import Register
from safeguard.adapters.returns.workbook import Marking, local, set_up_printing, write_table
from safeguard.domain.config import Config
from safeguard.domain.forms.contract import FORM_FIELDS, SUBJECT_FIELDS
from safeguard.domain.forms.diff import show


class UnknownAlert(LookupError):
    pass


def export_alert_history(session: Session, config: Config, reference: str, out: Path, *, by: str,
                         now: datetime) -> Path:
    register = Register(session)
    alert = register.alert(reference)
    if alert is None:
        raise UnknownAlert(reference)
    tz = config.settings.service.timezone
    names = {p.code: p.name for p in config.providers}
    book = Workbook()

    summary = book.active
    summary.title = "Summary"
    facts = [("Reference", alert.reference), ("Status", alert.status), ("Alert type", alert.alert_type),
             ("Urgency", alert.urgency), ("Received", local(alert.created_at, tz)),
             ("First notices sent", local(alert.dispatched_at, tz)),
             ("Withdrawn", local(alert.withdrawn_at, tz)),
             ("Review date", alert.review_date), ("Submitted by", alert.submitted_by),
             ("Social worker", alert.social_worker_email), ("Team manager", alert.team_manager_email),
             ("Approved version", alert.current_version if alert.dispatched_at else None)]
    next_row = write_table(summary, ["Item", "Value"], facts, widths=[26, 48])
    write_table(summary, ["Provider", "Name", "Mailbox", "Status", "Version held", "Notified", "Acknowledged",
                          "Withdrawn"],
                [(d.provider_code, names.get(d.provider_code, "(no longer in the directory)"), d.mailbox,
                  d.status, d.version, local(d.notified_at, tz), local(d.acknowledged_at, tz),
                  local(d.withdrawn_at, tz))
                 for d in register.deliveries(alert)], widths=[26, 48, 34, 12, 12, 17, 17, 17],
                start_row=next_row + 1)
    summary.freeze_panes = None

    inbound_ids = [i for i in session.scalars(select(InboundMessage.id)
                                              .where(InboundMessage.alert_id == alert.id))]
    entries = list(session.scalars(select(AuditEntry).where(or_(  # both columns indexed: no scan of the log
        AuditEntry.alert_ref == alert.reference, AuditEntry.inbound_id.in_(inbound_ids)))
        .order_by(AuditEntry.seq)))
    write_table(book.create_sheet("History"), ["#", "When", "Who", "What", "Details", "Entry hash"],
                [(e.seq, local(e.at, tz), e.actor, e.action, _details(e.detail), e.hash[:16])
                 for e in entries],
                widths=[7, 17, 32, 26, 70, 18])

    write_table(book.create_sheet("Emails"),
                ["Queued", "Kind", "To", "Status", "Attempts", "Sent", "Message-ID"],
                [(local(o.created_at, tz), o.kind, ", ".join(o.recipients), o.status, o.attempts,
                  local(o.sent_at, tz), o.message_id) for o in register.outbox_for_alert(alert.id)],
                widths=[17, 24, 40, 10, 10, 17, 50])

    versions = register.versions(alert)
    forms = [None if v.form.get("erased") else register.form(v) for v in versions]
    rows: list[list[object]] = [
        ["Status", *[v.status for v in versions]],
        ["Received", *[local(v.created_at, tz) for v in versions]],
        ["Decided by", *[v.decided_by for v in versions]],
        ["Decided", *[local(v.decided_at, tz) for v in versions]],
        ["Reason (if rejected)", *[v.decision_reason for v in versions]],
        ["Providers left out", *[", ".join(v.left_out or []) for v in versions]],
        ["Approver's note", *[v.decision_note for v in versions]],
    ]
    rows += [[f.label,
              *[show(getattr(form, f.key)) if form else "(erased: retention period)" for form in forms]]
             for f in FORM_FIELDS]
    for n in range(max((len(form.subjects) for form in forms if form), default=0)):
        rows += [[f"Subject {n + 1} {f.label}",
                  *[show(getattr(form.subjects[n], f.key)) if form and n < len(form.subjects) else ""
                    for form in forms]]
                 for f in SUBJECT_FIELDS]
    write_table(book.create_sheet("Form versions"), ["Field", *[f"Version {v.version}" for v in versions]],
                rows, widths=[34, *[44] * len(versions)])

    write_table(book.create_sheet("Integrity"), ["Check", "Result"], [
        *_integrity(prove_entries(session, entries), tz),
        ("Exported", local(now, tz)), ("Exported by", by),
        ("Handling", "OFFICIAL-SENSITIVE: contains personal data. Share only with the case review."),
    ], widths=[24, 80])
    register.audit(actor=by, action="alert history exported", at=now, alert_ref=alert.reference,
                   file=out.name)
    set_up_printing(book, title=f"Case-review export {alert.reference}", marking=Marking.OFFICIAL_SENSITIVE)
    save_private(book, out)
    session.commit()
    return out


def _integrity(proof: EntriesProof, tz: str) -> list[tuple[str, str]]:
    """What the export proves about this alert's entries, from them and the chain's latest checkpoint:
    its cost follows the alert's own history, not the size of the log."""
    entries = (f"each of its {proof.checked} entries intact and linked to the entry before it"
               if not proof.faults
               else "BROKEN: " + "; ".join(f"entry {s}: {why}" for s, why in proof.faults.items()))
    mark = proof.checkpoint
    chain = ("no checkpoint yet: run 'safeguard audit verify'" if mark is None
             else f"BROKEN: {proof.checkpoint_fault}" if proof.checkpoint_fault
             else f"verified from its first entry through entry {mark.seq} on "
                  f"{local(mark.made_at, tz):%d %b %Y %H:%M}")
    return [("This alert's history", entries), ("Audit log chain", chain)]


def _details(detail: dict[str, object]) -> str:
    return "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in detail.items()
                     if v not in (None, "", [], {}))
