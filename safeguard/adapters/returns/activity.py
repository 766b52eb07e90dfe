"""The monthly alert activity return: counts and times only, no personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguard.adapters.private_files import save_private
from safeguard.adapters.register.orm import Alert, AlertVersion, Delivery
from safeguard.adapters.returns.fgm import previous_months
from safeguard.adapters.returns.hospital_activity import load_hospital_activity
from safeguard.adapters.returns.workbook import Marking, local, set_up_printing, write_lines, write_table
from safeguard.domain.config import Config
from safeguard.domain.fgm import month_bounds
from safeguard.domain.status import DeliveryStatus, VersionStatus


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


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def load_activity(session: Session, config: Config, month: str) -> Activity:
    start, end, _first = _window(config, month)
    alerts = _rows(session, Alert.id, Alert.alert_type, Alert.created_at, Alert.dispatched_at,
                   Alert.withdrawn_at, Alert.review_date)
    # statuses and dates only: never the (encrypted) forms
    versions = _rows(session, AlertVersion.alert_id, AlertVersion.version, AlertVersion.status,
                     AlertVersion.decided_at)
    deliveries = _rows(session, Delivery.alert_id, Delivery.provider_code, Delivery.status,
                       Delivery.notified_at, Delivery.acknowledged_at, Delivery.chased_at,
                       Delivery.escalated_at)
    created = {a.id: a.created_at for a in alerts}
    types = sorted({a.alert_type for a in alerts} | {t.name for t in config.alert_types})
    rows = []
    for kind in types:
        mine = [a for a in alerts if a.alert_type == kind]
        ids = {a.id for a in mine}
        decided = [v for v in versions
                   if v.alert_id in ids and v.version == 1 and _in(v.decided_at, start, end)]
        active = [a for a in mine if a.dispatched_at and a.dispatched_at < end
                  and (a.withdrawn_at is None or a.withdrawn_at >= end)]
        rows.append({"Alert type": kind, "Raised": sum(_in(a.created_at, start, end) for a in mine),
                     "Approved": sum(v.status in (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)
                                     for v in decided),
                     "Rejected": sum(v.status == VersionStatus.REJECTED for v in decided),
                     "Withdrawn": sum(_in(a.withdrawn_at, start, end) for a in mine),
                     "Active at month end": len(active),
                     "Reviews overdue at month end": sum(a.review_date < end.date() for a in active)})
    by_type = pd.DataFrame(rows)
    by_type.loc[len(by_type)] = {"Alert type": "Total",
                                 **{c: int(by_type[c].sum()) for c in by_type.columns[1:]}}
    names = {p.code: p.name for p in config.providers}
    sent = [d for d in deliveries if _in(d.notified_at, start, end)]
    provider_rows = []
    for code in sorted({d.provider_code for d in sent}):
        mine = [d for d in sent if d.provider_code == code]
        acked = [d for d in mine if d.acknowledged_at]
        hours = [(d.acknowledged_at - d.notified_at).total_seconds() / 3600 for d in acked]  # type: ignore[operator]
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
    intervals = {
        "Receipt to approval": [(v.decided_at - created[v.alert_id]).total_seconds() / 3600 for v in versions
                                if v.version == 1
                                and v.status in (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)
                                and _in(v.decided_at, start, end)],
        "Receipt to dispatch": [(a.dispatched_at - a.created_at).total_seconds() / 3600 for a in alerts
                                if _in(a.dispatched_at, start, end)],
        "Receipt to first acknowledgement": [
            (d.acknowledged_at - created[d.alert_id]).total_seconds() / 3600 for d in deliveries  # type: ignore[operator]
            if _in(d.acknowledged_at, start, end)],
    }
    timeliness = pd.DataFrame([{"Interval": k, "Count": len(v), "Median (hours)": _q(v, 0.5),
                                "90th percentile (hours)": _q(v, 0.9)} for k, v in intervals.items()])
    trend = []
    for m in previous_months(month, 12):
        s, e, _ = _window(config, m)
        trend.append({"Month": m, "Raised": sum(_in(a.created_at, s, e) for a in alerts),
                      "Withdrawn": sum(_in(a.withdrawn_at, s, e) for a in alerts),
                      "Active at month end": sum(bool(a.dispatched_at and a.dispatched_at < e and
                                                      (a.withdrawn_at is None or a.withdrawn_at >= e))
                                                 for a in alerts)})
    return Activity(month, by_type, by_provider, timeliness, pd.DataFrame(trend),
                    load_hospital_activity(session, config, start, end))


def _rows(session: Session, *columns: Any) -> list[Any]:
    """The named columns of every row (named tuples): what the return counts, and nothing else."""
    return list(session.execute(select(*columns)).all())


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
