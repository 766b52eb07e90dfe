"""The activity return's hospitals sheet: per provider, what kept it in step in the month. Counts only."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguard.adapters.register.orm import InboundMessage, OutboxEntry, ProviderDigest
from safeguard.domain.config import Config
from safeguard.domain.status import MessageKind

COLUMNS = ["Provider", "SEEN reported", "Digests sent", "Digests confirmed", "Digests unconfirmed",
           "Review-lapse notices"]
LAPSE_KIND = "reminder:review-lapse"


def load_hospital_activity(session: Session, config: Config, start: datetime, end: datetime) -> pd.DataFrame:
    counts: dict[str, dict[str, int]] = {}

    def add(code: str, column: str) -> None:
        counts.setdefault(code, dict.fromkeys(COLUMNS[1:], 0))[column] += 1

    for (sender,) in session.execute(select(InboundMessage.sender).where(
            InboundMessage.kind == MessageKind.SEEN, InboundMessage.received_at >= start,
            InboundMessage.received_at < end)):
        provider = config.provider_by_address(sender or "")
        add(provider.code if provider else "(not in the directory)", "SEEN reported")
    digests = select(ProviderDigest.provider_code, ProviderDigest.confirmed_at).where(
        ProviderDigest.sent_at >= start, ProviderDigest.sent_at < end)
    for code, confirmed in session.execute(digests):
        add(code, "Digests sent")
        add(code, "Digests confirmed" if confirmed is not None else "Digests unconfirmed")
    for (key,) in session.execute(select(OutboxEntry.key).where(
            OutboxEntry.kind == LAPSE_KIND, OutboxEntry.created_at >= start, OutboxEntry.created_at < end)):
        add(key.rpartition(":")[2], "Review-lapse notices")  # reminder:review-lapse:<ref>:<date>:<code>
    names = {p.code: p.name for p in config.providers}
    rows = [{"Provider": f"{code}: {names.get(code, '(no longer in the directory)')}", **counts[code]}
            for code in sorted(counts)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.loc[len(frame)] = {"Provider": "Total", **{c: int(frame[c].sum()) for c in COLUMNS[1:]}}
    return frame
