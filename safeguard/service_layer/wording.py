"""Counts, codes and lists as the admin team reads them: words and markdown tables, never a Python
repr. Everything the product publishes in Prefect (artifacts, run results) is written with these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta


def spoken(code: object) -> str:
    """An internal code in words: "form-problems" -> "form problems"."""
    return str(code).replace("-", " ").replace("_", " ").lower()


def counted(counts: Mapping[str, int], nothing: str = "none") -> str:
    """{"sent": 2, "deferred": 0, "failed": 1} -> "2 sent, 1 failed" (zeros left out)."""
    parts = [f"{n} {spoken(what)}" for what, n in counts.items() if n]
    return ", ".join(parts) if parts else nothing


def listed(items: Iterable[object], nothing: str = "none") -> str:
    """["UHCW", "SWFT"] -> "UHCW, SWFT"."""
    names = [str(i) for i in items]
    return ", ".join(names) if names else nothing


def age(delta: timedelta) -> str:
    """How long, in the largest unit that says it: "3 days", "5 hours", "12 minutes"."""
    minutes = int(delta.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour")):
        if minutes >= size:
            n = minutes // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def notices_table(notices: Mapping[str, Sequence[str]], not_sent: Sequence[str],
                  sent: Mapping[str, int]) -> str:
    """What a decision sent, for the approval, withdrawal and reinstatement artifacts."""
    table = (markdown_table(["notice", "to providers"], [[spoken(kind), listed(codes)]
                                                          for kind, codes in notices.items()])
             if notices else "No notices.")
    return (f"{table}\n\nNot sent (the admin team has been emailed): {listed(not_sent)}.\n\n"
            f"Email sent now: {counted(sent)}.")
