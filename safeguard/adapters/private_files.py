"""Files the product writes that may hold personal data (returns, exports): readable by the service
account only (files 0600, folders 0700) from the moment they exist, and removed after their
retention period."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

FILE_MODE, FOLDER_MODE = 0o600, 0o700


class Saveable(Protocol):
    def save(self, filename: object) -> None: ...


def private_folder(folder: Path) -> Path:
    """Create the folder (and any missing parents) 0700. An existing folder is left as it is, unless it
    is one of the product's own (see tighten)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(mode=FOLDER_MODE, exist_ok=True)
        path.chmod(FOLDER_MODE)  # mkdir's mode passes through the umask
    return folder


def save_private(book: Saveable, out: Path) -> Path:
    """Save a workbook as a 0600 file: opened with that mode, so it is never readable by others."""
    private_folder(out.parent)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a file that existed keeps its old mode through O_CREAT
    with os.fdopen(fd, "wb") as handle:
        book.save(handle)
    return out


def write_private(out: Path, data: bytes) -> Path:
    private_folder(out.parent)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return out


def remove_older_than(folder: Path | None, days: int, now: float | None = None) -> int:
    """Delete files under folder last changed more than `days` ago (0 keeps them), and make the
    product's folder and what stays in it private. Returns how many files were removed."""
    if folder is None or days <= 0 or not folder.is_dir():
        return 0
    cutoff, removed = (time.time() if now is None else now) - days * 86400, 0
    folder.chmod(FOLDER_MODE)
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(FOLDER_MODE)
        elif path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
        else:
            path.chmod(FILE_MODE)
    return removed
