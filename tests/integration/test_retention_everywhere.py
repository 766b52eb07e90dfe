"""Retention everywhere personal data lands: after the nightly run at an instant past every retention
period, nothing of the test subjects is left in the register (read around the product: the SQLite file's
bytes, or every PostgreSQL row, with every encrypted value decrypted too), in the mailbox's folders or in
the exports and returns folders; the audit chain still verifies and says which details were erased; and
every erasure is in the audit log with its counts."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

from sqlalchemy import select

from safeguard.adapters.register.audit_check import verify_full
from safeguard.adapters.register.crypto import KeysMissing, decrypt
from safeguard.adapters.register.orm import AuditEntry
from safeguard.adapters.returns.alert_history import export_alert_history
from safeguard.domain.config.models import ExportsSettings, ReturnsSettings
from safeguard.domain.subject_query import SubjectQuery
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.reconcile import nightly_check
from safeguard.service_layer.returns import produce
from safeguard.service_layer.subject_access import export_subject_access
from tests.conftest import NOW, with_settings
from tests.integration.test_at_rest import SECRETS, a_full_history, stored_text

TOKEN = re.compile(r"gAAAAA[A-Za-z0-9_\-]+=*")


def readable(text: str) -> str:
    """The text, and every encrypted value in it decrypted: what someone holding the data key sees."""
    plain = []
    for token in set(TOKEN.findall(text)):
        try:
            plain.append(decrypt(token).decode("utf-8", "replace"))
        except KeysMissing:  # a token cut by a page boundary in the file: not a whole value
            continue
    return text + "\n".join(plain)


def files_under(folder: Path) -> str:
    """Every file's bytes, with each email's parts decoded and each workbook unzipped."""
    return "\n".join(unpacked(p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def unpacked(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    parts = [data.decode("latin-1")]
    if b"\nMIME-Version:" in data or data.startswith(b"MIME-Version:") or b"Content-Type:" in data:
        for part in message_from_bytes(data).walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(unpacked(payload))
    return "\n".join(parts)


def found(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_after_the_nightly_run_past_every_period_no_subject_value_is_left_anywhere(
        intake_ctx: IntakeContext, register_url: str, tmp_path: Path) -> None:
    config = with_settings(intake_ctx.config, exports=ExportsSettings(folder=tmp_path / "exports"),
                           returns=ReturnsSettings(output_dir=tmp_path / "returns"))
    ctx = IntakeContext(config, intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    ref = a_full_history(ctx)
    produce(ctx, "2026-10", ("fgm", "activity"), None)
    with ctx.uow() as u:
        export_alert_history(u.session, config, ref, tmp_path / "exports" / "history.xlsx", by="IG",
                             now=NOW)
        held = export_subject_access(u.register, config, SubjectQuery(nhs_number="943 476 5870"),
                                     tmp_path / "exports" / "sar.xlsx", by="IG", redact_staff=False, now=NOW)
        u.commit()
    assert [a.reference for a in held.alerts] == [ref] and len(held.fgm) == 1  # the mother: alert and FGM
    mailbox = tmp_path / "mail" / "safeguarding"
    for place in (readable(stored_text(register_url)), files_under(mailbox),
                  files_under(tmp_path / "exports"), files_under(tmp_path / "returns")):
        assert found(place)  # each scan does find the subjects before the run

    later = NOW + timedelta(days=config.fgm.retention_days + 1)  # the longest period
    check = nightly_check(IntakeContext(config, ctx.mailbox, ctx.uow, lambda: later))

    assert check.erased == 1 and check.audit_intact
    assert found(readable(stored_text(register_url))) == []
    assert found(files_under(mailbox)) == []
    assert [*(tmp_path / "exports").rglob("*.xlsx"), *(tmp_path / "returns").rglob("*.xlsx")] == []
    with ctx.uow() as u:
        chain = verify_full(u.session)
        assert chain.ok and chain.erased
        erasures = {e.action: e.detail for e in u.session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["personal data erased", "FGM records erased", "mail deleted",
                                   "files removed"])))}
    alert = erasures["personal data erased"]
    assert alert["versions"] == 1 and alert["emails"] >= 3 and alert["audit_details"] >= 5
    assert erasures["FGM records erased"]["records"] == 1
    assert erasures["mail deleted"]["Processed"] >= 3 and erasures["mail deleted"]["Sent"] >= 3
    assert erasures["files removed"]["files"] >= 4


def test_nothing_is_erased_before_its_period(intake_ctx: IntakeContext, tmp_path: Path) -> None:
    config = with_settings(intake_ctx.config, exports=ExportsSettings(folder=tmp_path / "exports"),
                           returns=ReturnsSettings(output_dir=tmp_path / "returns"))
    ctx = IntakeContext(config, intake_ctx.mailbox, intake_ctx.uow, intake_ctx.clock)
    a_full_history(ctx)
    soon = datetime.now(UTC) + timedelta(days=1)
    assert nightly_check(IntakeContext(config, ctx.mailbox, ctx.uow, lambda: soon)).erased == 0
    assert found(files_under(tmp_path / "mail" / "safeguarding"))
    with ctx.uow() as u:
        assert not verify_full(u.session).erased


def test_files_the_product_writes_are_readable_by_its_account_only(intake_ctx: IntakeContext,
                                                                   register_url: str, tmp_path: Path) -> None:
    a_full_history(intake_ctx)
    files = produce(intake_ctx, "2026-10", ("fgm", "activity"), tmp_path / "returns" / "2026-10").files
    assert files and {p.stat().st_mode & 0o777 for p in files.values()} == {0o600}
    assert {(tmp_path / "returns" / sub).stat().st_mode & 0o777 for sub in ("", "2026-10")} == {0o700}
    mail = [p for p in (tmp_path / "mail" / "safeguarding").rglob("*") if p.is_file()]
    assert mail and {p.stat().st_mode & 0o777 for p in mail} == {0o600}
    if register_url.startswith("sqlite"):
        assert (tmp_path / "register.sqlite3").stat().st_mode & 0o777 == 0o600
