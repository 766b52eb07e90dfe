"""Photos of an alert's subjects: kept with the form version that brought them (encrypted at rest,
already re-encoded without metadata), attached to that version's alert and update notices when the
form says Photo attached: Yes, and erased with the alert's other personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from safeguard.adapters.register.orm import Alert, AlertPhoto
from safeguard.adapters.register.repository import Register
from safeguard.domain.forms.photos import Photo

PHOTO_NOTICES = ("alert", "update")  # the notices that carry the version's photos


def keep_photos(register: Register, alert: Alert, version: int, photos: tuple[Photo, ...],
                now: datetime) -> None:
    for number, photo in enumerate(photos, start=1):
        register.add(AlertPhoto(alert_id=alert.id, version=version, number=number,
                                content_type=photo.content_type, data=photo.data, created_at=now))
    if photos:
        register.audit(actor="system", action="photos kept", at=now, alert_ref=alert.reference,
                       version=version, photos=len(photos))


def notice_attachments(register: Register, alert: Alert, version: int, kind: str,
                       photo_attached: str | None) -> tuple[tuple[str, bytes], ...]:
    """(file name, bytes) of the photos a notice of this kind for this version carries."""
    if kind not in PHOTO_NOTICES or photo_attached != "Yes":
        return ()
    rows = register.session.scalars(select(AlertPhoto).where(
        AlertPhoto.alert_id == alert.id, AlertPhoto.version == version).order_by(AlertPhoto.number))
    return tuple((Photo(row.data, row.content_type).filename(row.number), row.data) for row in rows)


def erase_photos(register: Register, alert: Alert) -> int:
    """Delete the alert's photos; returns how many there were."""
    result = register.session.execute(delete(AlertPhoto).where(AlertPhoto.alert_id == alert.id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
