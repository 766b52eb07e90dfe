"""Producing the monthly returns and sending them: the aggregate FGM and activity workbooks to the
admin team, the record-level FGM workbook only to the addresses config/fgm.yaml allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.adapters.returns.activity import load_activity, write_activity
from safeguard.adapters.returns.fgm import headline, load_month, write_aggregate, write_record_level
from safeguard.domain.config import Config
from safeguard.domain.disclosure import disclose
from safeguard.domain.fgm import MONTH
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.sending import send_unsent


@dataclass
class ReturnFiles:
    month: str
    files: dict[str, Path] = field(default_factory=dict)  # record-level | aggregate | activity -> path
    fgm_headline: dict[str, int] = field(default_factory=dict)  # rounded, safe to show anywhere
    activity_headline: dict[str, int] = field(default_factory=dict)


def previous_month(config: Config, now: datetime) -> str:
    local = config.local(now)
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{year:04d}-{month:02d}"


def check_month(month: str) -> str:
    if not MONTH.fullmatch(month):
        raise ValueError(f"'{month}' is not a month: write it as YYYY-MM, e.g. 2026-10")
    return month


def produce(ctx: IntakeContext, month: str, which: tuple[str, ...] = ("fgm", "activity"),
            out_dir: Path | None = None) -> ReturnFiles:
    config, now = ctx.config, ctx.clock()
    folder = out_dir or (config.settings.returns.output_dir
                         if config.settings.returns.output_dir.is_absolute()
                         else Path.cwd() / config.settings.returns.output_dir)
    result = ReturnFiles(check_month(month))
    with ctx.uow() as u:
        if "fgm" in which:
            fm = load_month(u.session, config, month)
            result.files["record-level"] = write_record_level(fm, config,
                                                              folder / f"FGM-record-level-{month}.xlsx", now)
            result.files["aggregate"] = write_aggregate(fm, config,
                                                        folder / f"FGM-aggregate-{month}.xlsx", now)
            result.fgm_headline = {k: disclose(v) for k, v in headline(fm).items()}
        if "activity" in which:
            activity = load_activity(u.session, config, month)
            result.files["activity"] = write_activity(activity, config,
                                                      folder / f"alert-activity-{month}.xlsx", now)
            total = activity.by_type.iloc[-1]
            result.activity_headline = {k: int(total[k])
                                        for k in ("Raised", "Withdrawn", "Active at month end")}
        u.register.audit(actor="system", action="returns produced", at=now, month=month,
                         files=[p.name for p in result.files.values()])
        u.commit()
    return result


def email_returns(ctx: IntakeContext, result: ReturnFiles) -> dict[str, int]:
    """One email to the admin team (aggregate and activity), one to each record-level recipient."""
    config, now = ctx.config, ctx.clock()
    service = config.settings.service
    shared = tuple((p.name, p.read_bytes()) for k, p in result.files.items() if k != "record-level")
    with ctx.uow() as u:
        if shared:
            queue_email(u.register, key=f"returns:{result.month}:{now.isoformat(timespec='seconds')}",
                        kind="admin:returns", sender=sender_of(config), recipients=[service.admin_team],
                        at=now, attachments=shared,
                        rendered=render_email("returns_ready", service=service, result=result,
                                              restricted=False))
        record_level = result.files.get("record-level")
        allowed = [a for a in config.fgm.record_level_recipients if config.is_secure_address(a)]
        if record_level and allowed:
            queue_email(u.register,
                        key=f"returns:record-level:{result.month}:{now.isoformat(timespec='seconds')}",
                        kind="admin:returns-record-level", sender=sender_of(config),
                        recipients=allowed, at=now,
                        attachments=((record_level.name, record_level.read_bytes()),),
                        rendered=render_email("returns_ready", service=service, result=result,
                                              restricted=True))
        u.commit()
    return send_unsent(ctx)
