"""The subject access workbook: everything held about one person, with third parties redacted.

Other people on a form (the other subjects) are always redacted: their columns, and their names and
NHS numbers wherever free text mentions them. Staff (social workers, managers, approvers) are
redacted when asked (`--redact-staff`). The file is written 0600 (private_files.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.orm import Alert, AlertVersion, FgmRecord, OutboxEntry
from safeguard.adapters.returns.workbook import Marking, local, set_up_printing, write_table
from safeguard.domain.config import Config
from safeguard.domain.forms.contract import FORM_FIELDS, SUBJECT_FIELDS
from safeguard.domain.forms.diff import show
from safeguard.domain.subject_query import SubjectQuery

OTHER, STAFF = "[redacted: another person]", "[redacted: staff]"
STAFF_FIELDS = ("team_manager", "operational_lead", "social_worker_name", "social_worker_email",
                "social_worker_phone", "team_manager_email", "team_manager_phone")


@dataclass
class Found:
    """What the register holds about the person."""

    query: SubjectQuery
    alerts: list[Alert] = field(default_factory=list)
    versions: dict[int, list[AlertVersion]] = field(default_factory=dict)  # alert id -> its versions
    emails: dict[int, list[OutboxEntry]] = field(default_factory=dict)  # alert id -> emails about it
    fgm: list[FgmRecord] = field(default_factory=list)


class Redactor:
    """Replaces other people's identifiers (and staff's, on request) in one alert's text."""

    def __init__(self, query: SubjectQuery, alert: Alert, versions: list[AlertVersion], staff: bool) -> None:
        forms = [v.form for v in versions if not v.form.get("erased")]
        subjects = [s for f in forms for s in f.get("subjects") or []]
        own = {w.lower() for s in subjects if query.matches(s) for w in _names(s)}
        others = {w for s in subjects if not query.matches(s)
                  for w in [*_names(s), s.get("nhs_number") or ""]}
        self.staff = staff
        people = [(w, OTHER) for w in others if w and w.lower() not in own]
        if staff:
            named = [str(f.get(k) or "") for f in forms for k in STAFF_FIELDS]
            named += [alert.submitted_by, alert.social_worker_email, alert.team_manager_email]
            named += [v.decided_by or "" for v in versions]
            people += [(w, STAFF) for n in named for w in [n, *n.split()] if len(w) > 2]
        people.sort(key=lambda pair: -len(pair[0]))
        self._pattern = (re.compile("|".join(re.escape(w) for w, _ in people), re.IGNORECASE)
                         if people else None)
        self._label = {w.lower(): label for w, label in people}

    def text(self, value: object) -> object:
        if not isinstance(value, str) or self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self._label.get(m.group(0).lower(), OTHER), value)

    def person(self, value: object) -> object:
        """A staff member's name or address: redacted whole when staff are."""
        return STAFF if self.staff and value else value


def _names(subject: dict[str, Any]) -> list[str]:
    text = " ".join(str(subject.get(k) or "") for k in ("surname", "forenames", "known_as"))
    return [w for w in text.split() if len(w) > 1]


def write_subject_access(found: Found, config: Config, out: Path, *, redact_staff: bool, by: str,
                         now: datetime) -> Path:
    tz, book = config.settings.service.timezone, Workbook()
    sheet = book.active
    sheet.title = "Summary"
    write_table(sheet, ["Item", "Value"], [
        ("Alerts about this person", len(found.alerts)),
        ("FGM records about this person", len(found.fgm)),
        ("Other people on the forms", "redacted"),
        ("Staff names", "redacted" if redact_staff else "shown"),
        ("Exported", local(now, tz)), ("Exported by", by),
        ("Handling", "OFFICIAL-SENSITIVE: a subject access disclosure. Check it before it is released."),
    ], widths=[30, 80])
    rows: dict[str, list[tuple[object, ...]]] = {name: [] for name in ("Alerts", "Form versions", "Approvals",
                                                                       "Notices")}
    for alert in found.alerts:
        versions = found.versions.get(alert.id, [])
        _alert_rows(rows, alert, versions, found.emails.get(alert.id, []),
                    Redactor(found.query, alert, versions, redact_staff), found.query, tz)
    write_table(book.create_sheet("Alerts"), ["Reference", "Status", "Alert type", "Urgency", "Received",
                                              "First notices sent", "Withdrawn", "Review date",
                                              "Submitted by", "Social worker", "Team manager"],
                rows["Alerts"],
                widths=[18, 14, 22, 10, 17, 17, 17, 12, 30, 30, 30])
    write_table(book.create_sheet("Form versions"), ["Reference", "Version", "Field", "Value"],
                rows["Form versions"], widths=[18, 9, 36, 80])
    write_table(book.create_sheet("Approvals"), ["Reference", "Version", "Decision", "By", "When", "Reason",
                                                 "Note", "Providers left out"], rows["Approvals"],
                widths=[18, 9, 12, 26, 17, 40, 40, 18])
    write_table(book.create_sheet("Notices sent"), ["Reference", "Queued", "Kind", "To", "Status", "Sent"],
                rows["Notices"], widths=[18, 17, 24, 40, 10, 17])
    _fgm_sheet(book, found.fgm, config)
    set_up_printing(book, title="Subject access export", marking=Marking.OFFICIAL_SENSITIVE)
    return save_private(book, out)


def _alert_rows(rows: dict[str, list[tuple[object, ...]]], alert: Alert, versions: list[AlertVersion],
                emails: list[OutboxEntry], r: Redactor, query: SubjectQuery, tz: str) -> None:
    ref = alert.reference
    rows["Alerts"].append((ref, alert.status, alert.alert_type, alert.urgency, local(alert.created_at, tz),
                           local(alert.dispatched_at, tz), local(alert.withdrawn_at, tz), alert.review_date,
                           r.person(alert.submitted_by), r.person(alert.social_worker_email),
                           r.person(alert.team_manager_email)))
    for v in versions:
        rows["Approvals"].append((ref, v.version, v.status, r.person(v.decided_by), local(v.decided_at, tz),
                                  r.text(v.decision_reason), r.text(v.decision_note),
                                  ", ".join(v.left_out or [])))
        rows["Form versions"] += [(ref, v.version, label, value)
                                  for label, value in _form_rows(v.form, r, query)]
    rows["Notices"] += [(ref, local(e.created_at, tz), e.kind, ", ".join(e.recipients), e.status,
                         local(e.sent_at, tz)) for e in emails]


def _form_rows(form: dict[str, Any], r: Redactor, query: SubjectQuery) -> list[tuple[str, object]]:
    if form.get("erased"):
        return [("(form)", "erased: retention period or erasure on request")]
    out = [(f.label, (r.person if f.key in STAFF_FIELDS else r.text)(show(form.get(f.key))))
           for f in FORM_FIELDS]
    for n, subject in enumerate(form.get("subjects") or [], start=1):
        mine = query.matches(subject)
        out += [(f"Subject {n} {f.label}",
                 r.text(show(subject.get(f.key))) if mine or f.key == "role" else OTHER)
                for f in SUBJECT_FIELDS]
    return out


def _fgm_sheet(book: Workbook, records: list[FgmRecord], config: Config) -> None:
    items = config.fgm.items
    write_table(book.create_sheet("FGM records"), ["Provider", "Month", "Status", *[i.label for i in items]],
                [(rec.provider_code, rec.month, rec.status, *[show(rec.data.get(i.key)) for i in items])
                 for rec in records], widths=[10, 9, 10, *[18] * len(items)])
