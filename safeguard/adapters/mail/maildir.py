"""The embedded default mailbox: a Maildir++ tree on local disk (stdlib only).

INBOX is the Maildir root; folders are `.Processed`, `.Rejected`, `.Quarantine`, `.Sent`.
Moves are single renames, so a message is always in exactly one folder. Sent copies are named
after their Message-ID, so sending the same notice twice leaves one copy. With `deliver_to`
set (the demo sets it; the shipped settings leave it off), each recipient also gets the message
in `<deliver_to>/<address>/new`, which is how the demo shows what every hospital and social
worker received. An address becomes a folder name only if it is a plain RFC 5321 dot-atom
(local@domain, ASCII, no quoted local part, no `/`), and only if that folder stays under
`deliver_to`: anything else is refused for good, so the outbox records it as failed.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path

from safeguard.adapters.mail.port import Folder, Mailbox, PermanentMailboxError, TemporaryMailboxError
from safeguard.adapters.private_files import FILE_MODE, private_folder

_SUBDIRS = ("new", "cur", "tmp")

# RFC 5321 Dot-string local part (atext without "/", which separates folders) and a Domain of
# letter-digit-hyphen labels; no quoted local parts and no address literals.
_ATOM = r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*", re.ASCII)
_MAX_LOCAL, _MAX_ADDRESS = 64, 254


def is_dot_atom_address(address: str) -> bool:
    """Whether address is local@domain with a dot-atom local part, safe to use as one folder name."""
    local, _, _ = address.partition("@")
    return (len(address) <= _MAX_ADDRESS and len(local) <= _MAX_LOCAL
            and _DOT_ATOM_ADDRESS.fullmatch(address) is not None)


def recipient_folder(deliver_to: Path, address: str) -> Path:
    """The folder under deliver_to that holds what address received; PermanentMailboxError when the
    address is not a plain dot-atom or its folder would not stay directly under deliver_to."""
    if not is_dot_atom_address(address):
        raise PermanentMailboxError("a recipient address is not a plain address (local@domain); "
                                    "not delivered")
    base = Path(deliver_to).resolve()
    folder = (base / address.lower()).resolve()
    if not folder.is_relative_to(base) or folder.parent != base:
        raise PermanentMailboxError("a recipient's folder would be outside the delivery folder; "
                                    "not delivered")
    return folder


def _ensure(path: Path) -> Path:
    """The folder and its tmp/new/cur, created readable by this account only (mail holds forms)."""
    for sub in _SUBDIRS:
        if not (path / sub).is_dir():
            private_folder(path / sub)
    return path


def _unique_name() -> str:
    return f"{time.time_ns()}.P{os.getpid()}R{os.urandom(4).hex()}.{socket.gethostname()}"


def deliver(folder: Path, data: bytes, name: str | None = None) -> Path:
    """Write into folder/new through folder/tmp, so readers never see half a message."""
    _ensure(folder)
    name = name or _unique_name()
    tmp = folder / "tmp" / name
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / "new" / name)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TemporaryMailboxError(f"could not write to the mail folder ({exc.strerror})") from None
    return folder / "new" / name


ID_INDEX = ".safeguard-message-ids"  # name TAB Message-ID, a line a file (not a Maildir subfolder)


def _read_index(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    index = {}
    for line in text.splitlines():
        name, tab, mid = line.partition("\t")
        if tab:
            index[name] = mid
    return index


def _write_index(path: Path, index: dict[str, str]) -> None:
    """Replaced whole, through a temporary file: a reader sees the old index or the new one. An index
    that cannot be written only means the headers are read again next time."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text("".join(f"{name}\t{mid}\n" for name, mid in index.items()
                               if "\n" not in mid and "\t" not in mid), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


class MaildirMailbox(Mailbox):
    parallel_safe = True

    def __init__(self, root: Path, address: str, deliver_to: Path | None = None) -> None:
        self.root = _ensure(Path(root))
        self.address = address
        self.deliver_to = deliver_to
        for folder in Folder:
            if folder is not Folder.INBOX:
                _ensure(self._folder(folder))

    def _folder(self, folder: Folder | str) -> Path:
        return self.root if folder == Folder.INBOX else self.root / f".{folder}"

    def _find(self, folder: Folder, mailbox_id: str) -> Path | None:
        for sub in ("new", "cur"):
            path = self._folder(folder) / sub / mailbox_id
            if path.exists():
                return path
        return None

    def list_new(self, limit: int | None = None) -> list[str]:
        names = [p for sub in ("new", "cur") for p in (self.root / sub).iterdir() if p.is_file()]
        names.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.name for p in names[:limit]]

    def arrivals(self) -> dict[str, datetime]:
        """The file's modification time: when it was delivered into new/ (a rename keeps it)."""
        found: dict[str, datetime] = {}
        for sub in ("new", "cur"):
            for entry in os.scandir(self.root / sub):
                try:
                    if entry.is_file():
                        found[entry.name] = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                except FileNotFoundError:  # filed while we looked
                    continue
        return found

    def fetch(self, mailbox_id: str) -> bytes | None:
        path = self._find(Folder.INBOX, mailbox_id)
        try:
            return path.read_bytes() if path else None
        except FileNotFoundError:
            return None

    def sizes(self, mailbox_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for mailbox_id in mailbox_ids:
            path = self._find(Folder.INBOX, mailbox_id)
            try:
                found[mailbox_id] = path.stat().st_size if path else 0
            except FileNotFoundError:
                found[mailbox_id] = 0
        return found

    def fetch_head(self, mailbox_id: str, max_bytes: int) -> bytes | None:
        path = self._find(Folder.INBOX, mailbox_id)
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                return handle.read(max_bytes)
        except FileNotFoundError:
            return None

    def move(self, mailbox_id: str, folder: Folder) -> None:
        path = self._find(Folder.INBOX, mailbox_id)
        if path is None:
            return
        target = _ensure(self._folder(folder)) / "cur" / f"{mailbox_id}:2,S"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise TemporaryMailboxError(f"could not move a message ({exc.strerror})") from None

    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        if not recipients:
            raise PermanentMailboxError("no recipients")
        name = self._sent_name(message_id)
        if self.deliver_to is not None:  # every address checked before anything is written
            for folder in [recipient_folder(self.deliver_to, address) for address in recipients]:
                deliver(folder, message, name)
        deliver(self._folder(Folder.SENT), message, name)

    def in_sent(self, message_id: str) -> bool:
        return self._find(Folder.SENT, self._sent_name(message_id)) is not None

    @staticmethod
    def _sent_name(message_id: str) -> str:
        return "sent-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]

    def folder_counts(self) -> dict[str, int]:
        return {str(f): sum(1 for sub in ("new", "cur") for p in (self._folder(f) / sub).iterdir()
                            if p.is_file())
                for f in Folder}

    def list_folder(self, folder: Folder) -> list[Path]:
        return sorted(p for sub in ("new", "cur") for p in (self._folder(folder) / sub).iterdir()
                      if p.is_file())

    def _entries(self, folder: Folder) -> Iterator[os.DirEntry[str]]:
        for sub in ("new", "cur"):
            with os.scandir(self._folder(folder) / sub) as entries:
                yield from (e for e in entries if e.is_file())

    def message_ids(self, folder: Folder) -> list[str]:
        return [message_id for _path, message_id in self._with_ids(folder)]

    def _with_ids(self, folder: Folder) -> list[tuple[str, str]]:
        """Each file's path and Message-ID. A Maildir file never changes once written (moves are
        renames, which keep its name), so each file's id is read once and kept in the folder's index
        file (ID_INDEX): a folder of years of mail is listed, not read, each night."""
        index_path = self._folder(folder) / ID_INDEX
        index = _read_index(index_path)
        parser = BytesHeaderParser()
        found, current = [], {}
        for entry in self._entries(folder):  # names from the directory, no Path or stat per file
            name = entry.name.partition(":")[0]  # a reader's flags (":2,S") do not change the file
            mid = index.get(name)
            if mid is None:
                try:
                    with open(entry.path, "rb") as handle:
                        headers = parser.parsebytes(handle.read(64 * 1024))
                except FileNotFoundError:  # moved while we looked
                    continue
                mid = str(headers.get("Message-ID", "")).strip()
            current[name] = mid
            found.append((entry.path, mid))
        if current != index:
            _write_index(index_path, current)
        return found

    def _delete(self, folder: Folder, message_ids: set[str]) -> int:
        doomed = [path for path, message_id in self._with_ids(folder) if message_id in message_ids]
        for path in doomed:
            Path(path).unlink(missing_ok=True)
        return len(doomed)  # the index drops them the next time the folder is listed
