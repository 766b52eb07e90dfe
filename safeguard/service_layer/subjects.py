"""Finding other alerts about the same person, without storing who they are.

Each subject of an alert leaves a keyed hash (HMAC with SAFEGUARD_HASH_KEY) of its NHS number, or of
surname and date of birth where there is no NHS number. A plain hash of an NHS number could be
reversed by trying every number; a keyed one cannot without the key. Only references come back out.
"""

from __future__ import annotations

from sqlalchemy import select

from safeguard.adapters.register.crypto import keyed_hash
from safeguard.adapters.register.orm import Alert, SubjectKey
from safeguard.adapters.register.repository import Register
from safeguard.domain.forms.model import HealthAlertForm, Subject
from safeguard.domain.status import ACTIVE, AWAITING_APPROVAL

SHARES_ACTIVE = "another active alert shares a subject: {refs}"
SHARES_WAITING = "another alert waiting for approval shares a subject: {refs}"
SHOWN = 10  # references named in one warning; "and more" after them


def _basis(subject: Subject) -> str | None:
    if subject.nhs_number:
        return "nhs:" + "".join(c for c in subject.nhs_number if c.isdigit())
    if subject.surname and subject.date_of_birth:
        surname = "".join(c for c in subject.surname.casefold() if c.isalpha())
        return f"name-dob:{surname}|{subject.date_of_birth.isoformat()}"
    return None  # an unborn baby, say: nothing to link on


def subject_keys(form: HealthAlertForm) -> set[str]:
    return {keyed_hash(basis) for s in form.subjects if (basis := _basis(s)) is not None}


def record_subject_keys(register: Register, alert: Alert, form: HealthAlertForm) -> set[str]:
    """The keys of this form's subjects, added to those of the alert's earlier versions; returns
    them all. A new alert has no earlier keys: the database is not asked (intake writes a chunk of
    messages in one flush)."""
    known = set() if register.is_new(alert) else _keys_of(register, alert)
    for key in sorted(subject_keys(form) - known):
        register.add(SubjectKey(alert_id=alert.id, key=key))
    return known | subject_keys(form)


def _keys_of(register: Register, alert: Alert) -> set[str]:
    return set(register.session.scalars(select(SubjectKey.key).where(SubjectKey.alert_id == alert.id)))


def shared_subject_warnings(register: Register, alert: Alert, keys: set[str] | None = None) -> list[str]:
    """"another active alert shares a subject: HSA-…" (and the same for alerts waiting for approval):
    references only, for the approval form and email and the sender's receipt. `keys`: the alert's
    own, when the caller has just worked them out. At most SHOWN references each (the newest), then
    "and more": a person in many alerts costs one short query, not a read of all their history."""
    keys = _keys_of(register, alert) if keys is None else keys
    if not keys:
        return []
    found: dict[str, set[str]] = {ACTIVE: set(), AWAITING_APPROVAL: set()}
    more: set[str] = set()
    with register.session.no_autoflush:  # keys added in this transaction are looked at below
        for status in found:
            refs = list(register.session.scalars(
                select(Alert.reference).join(SubjectKey, SubjectKey.alert_id == Alert.id)
                .where(SubjectKey.key.in_(keys), Alert.id != alert.id, Alert.status == status)
                .distinct().order_by(Alert.reference.desc()).limit(SHOWN + 1)))
            found[status].update(refs[:SHOWN])
            if len(refs) > SHOWN:
                more.add(status)
    for row in register.session.new:
        if isinstance(row, SubjectKey) and row.key in keys and row.alert_id != alert.id:
            other = register.get(Alert, row.alert_id)
            if other is not None and other.status in found:
                found[other.status].add(other.reference)
    warnings = []
    for status, text in ((ACTIVE, SHARES_ACTIVE), (AWAITING_APPROVAL, SHARES_WAITING)):
        refs = sorted(found[status], reverse=True)
        if len(refs) > SHOWN:
            refs, _ = refs[:SHOWN], more.add(status)
        if refs:
            shown = ", ".join(sorted(refs))
            warnings.append(text.format(refs=shown + (" and more" if status in more else "")))
    return warnings
