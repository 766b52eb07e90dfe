"""The monthly alert activity return: counts and times only, no personal data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Font
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.orm import Alert, AlertVersion, Delivery
from safeguard.adapters.returns.fgm import previous_months
from safeguard.adapters.returns.hospital_activity import load_hospital_activity
from safeguard.adapters.returns.workbook import Marking, local, set_up_printing, write_lines, write_table
from safeguard.domain.config import Config
from safeguard.domain.fgm import month_bounds
from safeguard.domain.status import DeliveryStatus, VersionStatus

APPROVED = (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)  # a first version approved (and maybe updated)


@dataclass
class Activity:
    month: str
    # alert type x (raised, approved, rejected, withdrawn, active at month end, reviews overdue)
    by_type: pd.DataFrame
    # provider x (notices, acknowledged, rate, median hours, chased, escalated, not delivered)
    by_provider: pd.DataFrame
    timeliness: pd.DataFrame  # interval x (count, median hours, 90th percentile hours)
    trend: pd.DataFrame
    # provider x (SEEN reported, digests sent, confirmed, unconfirmed, review-lapse notices)
    hospitals: pd.DataFrame = field(default_factory=pd.DataFrame)


def _window(config: Config, month: str) -> tuple[datetime, datetime, date]:
    tz = config.timezone
    first, after = month_bounds(month)
    return datetime.combine(first, time(), tz), datetime.combine(after, time(), tz), first


def load_activity(session: Session, config: Config, month: str) -> Activity:
    """The month's figures, asked of the database: each query reads the month's rows, or counts, so
    the return costs what the month held, not the register's years (statuses and dates only: never
    the encrypted forms)."""
    start, end, _first = _window(config, month)
    in_month = _within(start, end)
    decided = _rows(session, select(Alert.alert_type, AlertVersion.status, AlertVersion.decided_at,
                                    Alert.created_at).join(Alert, Alert.id == AlertVersion.alert_id)
                    .where(AlertVersion.version == 1, *in_month(AlertVersion.decided_at)))
    active = _active_at(end)
    raised, withdrawn = (_per_type(session, *in_month(Alert.created_at)),
                         _per_type(session, *in_month(Alert.withdrawn_at)))
    active_by_type = _per_type(session, *active)
    overdue = _per_type(session, *active, Alert.review_date < end.date())
    known = set(session.scalars(select(Alert.alert_type).distinct()))
    rows = []
    for kind in sorted(known | {t.name for t in config.alert_types}):
        mine = [v for v in decided if v.alert_type == kind]
        rows.append({"Alert type": kind, "Raised": raised.get(kind, 0),
                     "Approved": sum(v.status in APPROVED for v in mine),
                     "Rejected": sum(v.status == VersionStatus.REJECTED for v in mine),
                     "Withdrawn": withdrawn.get(kind, 0),
                     "Active at month end": active_by_type.get(kind, 0),
                     "Reviews overdue at month end": overdue.get(kind, 0)})
    by_type = pd.DataFrame(rows)
    by_type.loc[len(by_type)] = {"Alert type": "Total",
                                 **{c: int(by_type[c].sum()) for c in by_type.columns[1:]}}
    names = {p.code: p.name for p in config.providers}
    sent = _rows(session, select(Delivery.provider_code, Delivery.status, Delivery.notified_at,
                                 Delivery.acknowledged_at, Delivery.chased_at, Delivery.escalated_at)
                 .where(*in_month(Delivery.notified_at)))
    provider_rows = []
    for code in sorted({d.provider_code for d in sent}):
        mine = [d for d in sent if d.provider_code == code]
        acked = [d for d in mine if d.acknowledged_at]
        hours = [_hours(d.notified_at, d.acknowledged_at) for d in acked]
        provider_rows.append({"Provider": f"{code}: {names.get(code, '(no longer in the directory)')}",
                              "Notices needing acknowledgement": len(mine), "Acknowledged": len(acked),
                              "Acknowledgement rate": len(acked) / len(mine),
                              "Median hours to acknowledge": _q(hours, 0.5),
                              "Chased": sum(bool(d.chased_at) for d in mine),
                              "Escalated": sum(bool(d.escalated_at) for d in mine),
                              "Not delivered": sum(d.status == DeliveryStatus.FAILED for d in mine)})
    by_provider = pd.DataFrame(provider_rows, columns=["Provider", "Notices needing acknowledgement",
                                                       "Acknowledged", "Acknowledgement rate",
                                                       "Median hours to acknowledge", "Chased", "Escalated",
                                                       "Not delivered"])
    dispatched = _rows(session, select(Alert.created_at, Alert.dispatched_at)
                       .where(*in_month(Alert.dispatched_at)))
    acknowledged = _rows(session, select(Alert.created_at, Delivery.acknowledged_at)
                         .join(Alert, Alert.id == Delivery.alert_id)
                         .where(*in_month(Delivery.acknowledged_at)))
    intervals = {
        "Receipt to approval": [_hours(v.created_at, v.decided_at) for v in decided if v.status in APPROVED],
        "Receipt to dispatch": [_hours(a.created_at, a.dispatched_at) for a in dispatched],
        "Receipt to first acknowledgement": [_hours(d.created_at, d.acknowledged_at) for d in acknowledged],
    }
    timeliness = pd.DataFrame([{"Interval": k, "Count": len(v), "Median (hours)": _q(v, 0.5),
                                "90th percentile (hours)": _q(v, 0.9)} for k, v in intervals.items()])
    trend = []
    for m in previous_months(month, 12):
        s, e, _ = _window(config, m)
        between = _within(s, e)
        trend.append({"Month": m, "Raised": _count(session, *between(Alert.created_at)),
                      "Withdrawn": _count(session, *between(Alert.withdrawn_at)),
                      "Active at month end": _count(session, *_active_at(e))})
    return Activity(month, by_type, by_provider, timeliness, pd.DataFrame(trend),
                    load_hospital_activity(session, config, start, end))


def _within(start: datetime, end: datetime) -> Callable[[Any], tuple[Any, Any]]:
    return lambda column: (column >= start, column < end)


def _active_at(end: datetime) -> tuple[Any, Any]:
    """Sent to providers before `end` and not withdrawn by then."""
    return Alert.dispatched_at < end, or_(Alert.withdrawn_at.is_(None), Alert.withdrawn_at >= end)


def _per_type(session: Session, *where: Any) -> dict[str, int]:
    return dict(session.execute(select(Alert.alert_type, func.count()).where(*where)  # type: ignore[arg-type]
                                .group_by(Alert.alert_type)).all())


def _count(session: Session, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0)


def _hours(since: datetime, until: datetime) -> float:
    return (until - since).total_seconds() / 3600


def _rows(session: Session, query: Any) -> list[Any]:
    """The query's rows (named tuples): what the return counts, and nothing else."""
    return list(session.execute(query).all())


def _q(values: list[float], q: float) -> float | None:
    return round(float(pd.Series(values).quantile(q)), 1) if values else None


def write_activity(activity: Activity, config: Config, out: Path, produced: datetime) -> Path:
    book = Workbook()
    cover = book.active
    cover.title = "Cover"
    tz = config.settings.service.timezone
    cover.column_dimensions["A"].width = 90
    write_lines(cover, (f"Health alert activity return, {activity.month}", "",
                        f"Produced: {local(produced, tz):%d/%m/%Y %H:%M}",
                        f"Produced by: {config.settings.service.name}",
                        "Source: the safeguarding register (alerts, versions, provider deliveries, digests, "
                        "SEEN replies).",
                        "Counts and times only: no personal data. Times are in hours.",
                        "Not disclosure-controlled: for the safeguarding team and its governance."))
    for title, frame, widths in (("By alert type", activity.by_type, [30, 10, 10, 10, 11, 18, 26]),
                                 ("By provider", activity.by_provider, [60, 18, 14, 18, 16, 10, 10, 14]),
                                 ("Timeliness", activity.timeliness, [36, 10, 16, 22]),
                                 ("Hospitals", activity.hospitals, [60, 14, 14, 18, 20, 20])):
        sheet = book.create_sheet(title)
        last = write_table(sheet, list(frame.columns),
                           frame.astype(object).where(frame.notna(), None).values.tolist(), widths=widths)
        if title == "By provider":
            for row in sheet.iter_rows(min_row=2, max_row=last - 1, min_col=4, max_col=4):
                row[0].number_format = "0%"
        if title in ("By alert type", "Hospitals"):
            for cell in sheet[last - 1]:
                cell.font = Font(bold=True)
    trend = book.create_sheet("Trend")
    last = write_table(trend, list(activity.trend.columns), activity.trend.values.tolist(),
                       widths=[12, 10, 12, 20])
    chart = LineChart()
    chart.title, chart.y_axis.title = "Alerts by month", "Alerts"
    chart.add_data(Reference(trend, min_col=2, max_col=4, min_row=1, max_row=last - 1), titles_from_data=True)
    chart.set_categories(Reference(trend, min_col=1, min_row=2, max_row=last - 1))
    chart.width, chart.height = 20, 9
    trend.add_chart(chart, "F2")
    set_up_printing(book, title=f"Alert activity return {activity.month}", marking=Marking.OFFICIAL)
    save_private(book, out)
    return out
