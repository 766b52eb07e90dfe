"""FGM submissions from providers: by email (subject mentioning FGM), a dropped file, or the CLI.

A later file from the same provider for the same month replaces the earlier one's records, reversibly
(fgm_replacement.py), and the audit log says so. Rows with errors are never counted; the valid rows of
a file with errors are kept or held, as config/fgm.yaml says, and the provider is told each error by
row and column.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.private_files import private_folder
from safeguard.adapters.register.crypto import keyed_hash
from safeguard.adapters.register.orm import FgmRecord, FgmSubmission
from safeguard.adapters.register.repository import Register
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from safeguard.domain.config.fgm import FgmSettings
from safeguard.domain.fgm import NOT_AVAILABLE, Submission, SubmissionUnreadable
from safeguard.domain.status import FgmRecordStatus, FgmSubmissionStatus
from safeguard.service_layer.fgm_reading import read_and_check
from safeguard.service_layer.fgm_replacement import replace_earlier
from safeguard.service_layer.replies import MAX_ERRORS_LISTED, sender_of


@dataclass(frozen=True)
class FgmResult:
    submission_id: int
    provider: str
    month: str
    status: FgmSubmissionStatus  # accepted | partial | held
    rows_valid: int
    rows_with_errors: int
    replaced: int  # earlier submissions for the same month that this one replaced


def store_submission(register: Register, config: Config, provider_code: str, sub: Submission, *, source: str,
                     filename: str, now: datetime, inbound_id: int | None = None) -> FgmResult:
    assert sub.month is not None
    held = bool(sub.errors) and config.fgm.on_errors == "hold_all"
    status = (FgmSubmissionStatus.HELD if held else
              FgmSubmissionStatus.PARTIAL if sub.errors else FgmSubmissionStatus.ACCEPTED)
    session = register.session
    earlier = list(session.scalars(select(FgmSubmission).where(
        FgmSubmission.provider_code == provider_code, FgmSubmission.month == sub.month,
        FgmSubmission.status != FgmSubmissionStatus.REPLACED)))
    row = register.add(FgmSubmission(
        provider_code=provider_code, month=sub.month, inbound_id=inbound_id, source=source,
        filename=filename[:255], received_at=now, status=status, rows_valid=len(sub.rows),
        rows_with_errors=len(sub.error_rows),
        errors=[{"row": e.row, "column": e.column, "message": e.message} for e in sub.errors]))
    replace_earlier(register, config, row, earlier, now)
    contact = config.fgm.key_for("contact_date") or ""  # always set: config validation requires the role
    if sub.rows:
        session.execute(insert(FgmRecord), [
            {"submission_id": row.id, "provider_code": provider_code, "month": sub.month,
             "row_number": number, "patient_key": patient_key(values, config.fgm),
             "care_contact_date": date.fromisoformat(values[contact]),
             "status": FgmRecordStatus.HELD if held else FgmRecordStatus.COUNTED, "data": values}
            for number, values in sub.rows])
    register.audit(actor=provider_code, action="FGM submission received", at=now, inbound_id=inbound_id,
                   month=sub.month, submission=row.id, status=status, rows_valid=len(sub.rows),
                   rows_with_errors=len(sub.error_rows), source=source)
    return FgmResult(row.id, provider_code, sub.month, status, len(sub.rows), len(sub.error_rows),
                     len(earlier))


def queue_fgm_reply(register: Register, config: Config, *, to: str, key: str, at: datetime,
                    result: FgmResult | None, sub: Submission | None, problem: str | None, filename: str,
                    inbound_id: int | None = None, in_reply_to: str | None = None) -> None:
    errors = sub.errors if sub else []
    queue_email(register, key=key, kind="reply:fgm", sender=sender_of(config), recipients=[to], at=at,
                inbound_id=inbound_id, in_reply_to=in_reply_to,
                rendered=render_email("fgm_received", service=config.settings.service, result=result,
                                      errors=errors[:MAX_ERRORS_LISTED],
                                      more=max(0, len(errors) - MAX_ERRORS_LISTED),
                                      problem=problem, filename=filename, on_errors=config.fgm.on_errors))


def import_file(register: Register, config: Config, path: Path, provider_code: str, month: str | None,
                source: str, now: datetime) -> tuple[FgmResult | None, Submission | None, str | None]:
    """A file from the drop folder or the command line: (result, checked submission, problem)."""
    provider = config.provider(provider_code)
    if provider is None:
        return None, None, f"{provider_code} is not in the provider directory."
    try:
        sub = read_and_check(path.read_bytes(), path.name, config, provider.code, month)
    except SubmissionUnreadable as exc:
        return None, None, str(exc)
    result = store_submission(register, config, provider.code, sub, source=source, filename=path.name,
                              now=now)
    queue_fgm_reply(register, config, to=provider.mailbox, key=f"fgm-reply:{result.submission_id}", at=now,
                    result=result, sub=sub, problem=None, filename=path.name)
    return result, sub, None


DROPPED = re.compile(r"^(?P<code>[A-Za-z0-9]{3,10})_(?P<month>20\d\d-(0[1-9]|1[0-2]))\.(xlsx|csv)$")


def import_drop_folder(uow: Callable[[], UnitOfWork], config: Config, now: datetime) -> dict[str, int]:
    """Files named <PROVIDER CODE>_<YYYY-MM>.xlsx|csv in config/fgm.yaml's drop_folder: each imported like
    an emailed submission, then moved to done/ (or rejected/, with a .txt saying why)."""
    folder = config.fgm.drop_folder
    counts = {"imported": 0, "rejected": 0}
    if folder is None or not folder.is_dir():
        return counts
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        match = DROPPED.match(path.name)
        with uow() as u:
            if match is None:
                result, problem = None, ("The file name must be <PROVIDER CODE>_<YYYY-MM>.xlsx or .csv, "
                                         "e.g. UHCW_2026-10.xlsx.")
            else:
                result, _sub, problem = import_file(u.register, config, path, match["code"].upper(),
                                                    match["month"], "folder", now)
            u.commit()
        target = private_folder(folder / ("done" if result else "rejected"))
        path.replace(target / path.name)
        if problem:
            (target / f"{path.name}.txt").write_text(problem + "\n")
        counts["imported" if result else "rejected"] += 1
    return counts


def patient_key(values: dict[str, Any], fgm: FgmSettings) -> str:
    """Who the record is about, to link attendances across months: the NHS number, or when it is not
    available, date of birth and postcode (the items with those roles; records with neither cannot be
    linked)."""
    nhs = values.get(fgm.key_for("patient_number") or "")
    born, postcode = values.get(fgm.key_for("birth_date") or ""), values.get(fgm.key_for("residence") or "")
    if nhs and nhs != NOT_AVAILABLE:
        basis = f"nhs:{nhs}"
    elif born and postcode:
        basis = f"dob:{born}|pc:{postcode}"
    else:
        basis = f"unlinked:{uuid.uuid4().hex}"  # cannot be linked to any other record
    return keyed_hash(basis)[:32]  # keyed: a plain hash of an NHS number could be reversed by trying them all
