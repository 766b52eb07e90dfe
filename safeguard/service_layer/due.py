"""One reminder or scheduled email that is due (reminders.py queues each once, by its outbox key)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from safeguard.adapters.register.repository import Register


@dataclass(frozen=True)
class Due:
    """One reminder that is due: its unique key, who gets it, and what to record when queued."""

    kind: str
    key: str
    reference: str | None
    template: str
    recipients: tuple[str, ...]
    data: dict[str, object]
    alert_id: int | None = None
    inbound_id: int | None = None
    mark: Callable[[Register, datetime], None] | None = None
