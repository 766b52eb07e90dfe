"""Re-encrypting the register with the current key (`safeguard keys rotate`).

Put the new key first in SAFEGUARD_DATA_KEYS, keep the old ones after it, run this, then remove the
old keys. Values written before encryption was switched on are encrypted on the way.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from safeguard.adapters.register.crypto import is_token, keyring

# table -> (primary key, [(column, kind)]); kinds: json | text | bytes
ENCRYPTED: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "alert_versions": ("id", [("form", "json"), ("decision_reason", "text"), ("decision_note", "text")]),
    "inbound_messages": ("id", [("command", "json")]),
    "outbox_bodies": ("outbox_id", [("raw", "bytes")]),
    "audit_log": ("seq", [("detail", "json")]),
    "fgm_records": ("id", [("data", "json")]),
    "alert_photos": ("id", [("data", "bytes")]),
}
_TYPES = {"json": sa.JSON, "text": sa.Text, "bytes": sa.LargeBinary}


def _rotated(value: Any, kind: str) -> Any:
    ring = keyring()
    if value is None:
        return None
    if kind == "bytes":
        return ring.rotate(value) if is_token(value) else ring.encrypt(value)
    if isinstance(value, str) and is_token(value):
        return ring.rotate(value.encode()).decode()
    plain = json.dumps(value, separators=(",", ":"), default=str) if kind == "json" else str(value)
    return ring.encrypt(plain.encode()).decode()


def rotate_all(engine: Engine, batch: int = 500) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, (pk, columns) in ENCRYPTED.items():
        table = sa.table(name, sa.column(pk, sa.Integer), *(sa.column(c, _TYPES[k]()) for c, k in columns))
        done, last = 0, None
        while True:
            with engine.begin() as conn:
                query = sa.select(table).order_by(table.c[pk]).limit(batch)
                if last is not None:
                    query = query.where(table.c[pk] > last)
                rows = conn.execute(query).all()
                for row in rows:
                    values = {c: _rotated(getattr(row, c), k) for c, k in columns}
                    conn.execute(sa.update(table).where(table.c[pk] == getattr(row, pk)).values(**values))
            if not rows:
                break
            done += len(rows)
            last = getattr(rows[-1], pk)
        counts[name] = done
    return counts
