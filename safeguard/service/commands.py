"""Email commands carried in the subject line: WITHDRAW, EXTEND, and references quoted in replies."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SubjectCommand:
    verb: str | None  # "withdraw", "extend" or None
    reference: str | None
    extend_to: str | None = None


def read_subject(subject: str, prefix: str) -> SubjectCommand:
    ref = rf"({prefix}-\d{{4}}-\d{{6}})"
    if m := re.search(rf"\bWITHDRAW\s+{ref}\b", subject, re.IGNORECASE):
        return SubjectCommand("withdraw", m.group(1).upper())
    if m := re.search(rf"\bEXTEND\s+{ref}(?:\s+to\s+(\S+))?", subject, re.IGNORECASE):
        return SubjectCommand("extend", m.group(1).upper(), m.group(2))
    m = re.search(ref, subject, re.IGNORECASE)
    return SubjectCommand(None, m.group(1).upper() if m else None)


def withdrawal_reason(body: str | None) -> str:
    """`Reason: Found` / `Resolved` / `Baby born` / free text, from the first lines of the body."""
    for line in (body or "").splitlines()[:50]:
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() == "reason" and value.strip():
            return value.strip()[:500]
    return "Not given"
