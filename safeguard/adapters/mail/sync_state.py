"""What an adapter that syncs with its server (Graph's delta link, EWS's sync state) keeps between
runs: the server's cursor and the ids found but not yet filed, so a restart neither rescans nor
misses mail. The register provides the store (`MailboxState`); tests use `MemoryState`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol


class StateStore(Protocol):
    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...


class MemoryState:
    """For tests and `mailbox check`: state that lives as long as the object."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value


@dataclass
class SyncState:
    cursor: str | None = None
    pending: list[str] = field(default_factory=list)


class SyncStates:
    """One mailbox's sync state in a store, under `key`, its cursor saved as `cursor_field`."""

    def __init__(self, store: StateStore, key: str, cursor_field: str) -> None:
        self.store, self.key, self.cursor_field = store, key, cursor_field

    def load(self) -> SyncState:
        raw = self.store.get(self.key)
        saved = json.loads(raw) if raw else {}
        return SyncState(saved.get(self.cursor_field), list(saved.get("pending", [])))

    def save(self, state: SyncState) -> None:
        self.store.set(self.key, json.dumps({self.cursor_field: state.cursor, "pending": state.pending}))

    def forget(self, mailbox_id: str) -> None:
        """A pending id that has been filed, or is gone from the inbox."""
        state = self.load()
        if mailbox_id in state.pending:
            state.pending.remove(mailbox_id)
            self.save(state)
