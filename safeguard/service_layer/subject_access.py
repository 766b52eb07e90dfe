"""Subject access: everything the register holds about one person, found by NHS number or by name and
date of birth, for `safeguard sar export`. Other people (the other subjects on a form, and staff on
request) are redacted by the workbook (adapters/returns/subject_access.py). The export is audited with
a keyed hash of who was asked about, never the person's details."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from safeguard.adapters.register.crypto import keyed_hash
from safeguard.adapters.register.orm import Alert, AlertVersion, FgmRecord
from safeguard.adapters.register.repository import Register
from safeguard.adapters.returns.subject_access import Found, write_subject_access
from safeguard.domain.config import Config
from safeguard.domain.subject_query import SubjectQuery, digits
from safeguard.service_layer.erasure import ERASED
from safeguard.service_layer.fgm_intake import patient_key


def find_subject(register: Register, config: Config, query: SubjectQuery) -> Found:
    """Forms are encrypted, so each version is read (a subject access request is rare; this is a full
    pass over the forms). FGM records are found by the keyed hash of the NHS number."""
    found, nhs_numbers = Found(query), {digits(query.nhs_number)} - {""}
    session = register.session
    matching: set[int] = set()
    for version in session.scalars(select(AlertVersion).execution_options(yield_per=500)):
        subjects = [] if version.form.get(ERASED) else version.form.get("subjects") or []
        mine = [s for s in subjects if query.matches(s)]
        if mine:
            matching.add(version.alert_id)
            nhs_numbers |= {digits(s.get("nhs_number")) for s in mine} - {""}
    for alert in session.scalars(select(Alert).where(Alert.id.in_(matching)).order_by(Alert.id)):
        found.alerts.append(alert)
        found.versions[alert.id] = register.versions(alert)
        found.emails[alert.id] = register.outbox_for_alert(alert.id)
    number = config.fgm.key_for("patient_number") or ""
    keys = [patient_key({number: n}, config.fgm) for n in sorted(nhs_numbers)]
    found.fgm = list(session.scalars(select(FgmRecord).where(FgmRecord.patient_key.in_(keys))
                                     .order_by(FgmRecord.month, FgmRecord.id))) if keys else []
    return found


def export_subject_access(register: Register, config: Config, query: SubjectQuery, out: Path, *, by: str,
                          redact_staff: bool, now: datetime) -> Found:
    """Write the workbook and audit it (the caller commits)."""
    found = find_subject(register, config, query)
    write_subject_access(found, config, out, redact_staff=redact_staff, by=by, now=now)
    register.audit(actor=by, action="subject access export", at=now, subject=keyed_hash(query.key()),
                   alerts=[a.reference for a in found.alerts], fgm_records=len(found.fgm),
                   staff_redacted=redact_staff, file=out.name)
    return found
