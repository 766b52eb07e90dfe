"""A later FGM file for the same provider and month replaces the earlier one, reversibly: the earlier
submission and its records are marked replaced (not deleted) and left out of the returns, and
`safeguard fgm restore SUBMISSION` puts them back. A replacement with far fewer rows than the file it
replaces (config/fgm.yaml `replacement_alert_ratio`) is still accepted, and the admin team told."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.register.orm import FgmRecord, FgmSubmission
from safeguard.adapters.register.repository import Register
from safeguard.domain.config import Config
from safeguard.domain.status import FgmRecordStatus, FgmSubmissionStatus
from safeguard.service_layer.replies import sender_of


class CannotRestore(ValueError):
    """Said to the user as it is: the message names the submission and what to do."""


def mark_replaced(register: Register, old: FgmSubmission, by: FgmSubmission, actor: str,
                  now: datetime) -> None:
    old.status_before, old.status, old.replaced_by = old.status, FgmSubmissionStatus.REPLACED, by.id
    _set_records(register, old.id, FgmRecordStatus.REPLACED)
    register.audit(actor=actor, action="FGM submission replaced", at=now, month=old.month,
                   submission=old.id, replaced_by=by.id, rows=old.rows_valid)


def replace_earlier(register: Register, config: Config, row: FgmSubmission, earlier: list[FgmSubmission],
                    now: datetime) -> None:
    for old in earlier:
        mark_replaced(register, old, row, row.provider_code, now)
    before = sum(old.rows_valid for old in earlier)
    if earlier and row.rows_valid < before * config.fgm.replacement_alert_ratio:
        _tell_admin_team(register, config, row, earlier[-1], now)


def _tell_admin_team(register: Register, config: Config, row: FgmSubmission, old: FgmSubmission,
                     now: datetime) -> None:
    queue_email(register, key=f"fgm-replaced-smaller:{row.id}", kind="admin:fgm-replaced", at=now,
                inbound_id=row.inbound_id,
                sender=sender_of(config), recipients=[config.settings.service.admin_team],
                rendered=render_email("fgm_replaced_smaller", service=config.settings.service,
                                      provider=row.provider_code, month=row.month, latest=row.id,
                                      rows=row.rows_valid, earlier=old.id, earlier_rows=old.rows_valid))


def restore_submission(register: Register, submission_id: int, by: str, now: datetime) -> FgmSubmission:
    """Put a replaced submission back; whatever replaced it is marked replaced in its turn."""
    session = register.session
    old = session.get(FgmSubmission, submission_id, with_for_update=True)
    if old is None or old.status != FgmSubmissionStatus.REPLACED or old.status_before is None:
        raise CannotRestore(f"Submission {submission_id} is not a replaced FGM file, so there is nothing "
                            "to restore. The FGM return's Submissions sheet lists each file's number and "
                            "status.")
    current = session.scalars(select(FgmSubmission).where(
        FgmSubmission.provider_code == old.provider_code, FgmSubmission.month == old.month,
        FgmSubmission.status != FgmSubmissionStatus.REPLACED))
    for newer in current:
        mark_replaced(register, newer, old, by, now)
    old.status, old.status_before, old.replaced_by = old.status_before, None, None
    _set_records(register, old.id, FgmRecordStatus.HELD if old.status == FgmSubmissionStatus.HELD
                 else FgmRecordStatus.COUNTED)
    register.audit(actor=by, action="FGM submission restored", at=now, month=old.month, submission=old.id,
                   rows=old.rows_valid)
    return old


def _set_records(register: Register, submission_id: int, status: FgmRecordStatus) -> None:
    register.session.execute(update(FgmRecord).where(FgmRecord.submission_id == submission_id)
                             .values(status=status).execution_options(synchronize_session=False))
