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
WINDOW = 200  # the newest alerts sharing a key that are looked at


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
    own, when the caller has just worked them out.

    At most SHOWN references each (the newest), then "and more". Only the newest WINDOW alerts that
    share each key are looked at (one short indexed query a key, then their states by primary key): a
    person in thousands of alerts costs what a person in a few hundred does, not a read of all their
    history on every new alert. Past the window the warning says "and more" too."""
    keys = _keys_of(register, alert) if keys is None else keys
    if not keys:
        return []
    ids: set[int] = set()
    more = False
    with register.session.no_autoflush:  # keys added in this transaction are looked at below
        for key in sorted(keys):
            newest = list(register.session.scalars(
                select(SubjectKey.alert_id).where(SubjectKey.key == key, SubjectKey.alert_id != alert.id)
                .order_by(SubjectKey.id.desc()).limit(WINDOW)))
            ids.update(newest)
            more = more or len(newest) == WINDOW
        # by primary key alone, the status looked at here: "AND status IN (...)" in SQL let a planner
        # without statistics walk every live alert's status entry for each new alert
        found = {reference: status for reference, status in register.session.execute(
            select(Alert.reference, Alert.status).where(Alert.id.in_(sorted(ids))))
            if status in (ACTIVE, AWAITING_APPROVAL)} if ids else {}
    for row in register.session.new:
        if isinstance(row, SubjectKey) and row.key in keys and row.alert_id != alert.id:
            other = register.get(Alert, row.alert_id)
            if other is not None:
                found[other.reference] = other.status
    warnings = []
    for status, text in ((ACTIVE, SHARES_ACTIVE), (AWAITING_APPROVAL, SHARES_WAITING)):
        refs = sorted((reference for reference, s in found.items() if s == status), reverse=True)
        if refs:
            shown = ", ".join(sorted(refs[:SHOWN]))
            warnings.append(text.format(refs=shown + (" and more" if more or len(refs) > SHOWN else "")))
    return warnings
