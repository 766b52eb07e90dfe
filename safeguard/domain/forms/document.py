"""An office attachment as read: its tables, or why it could not be read. Plain data, so that it
can come back from the reader process (safeguard/adapters/workbooks/reader.py) as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from safeguard.domain.forms.raw import Grid

OFFICE_KINDS = ("xlsx", "docx")


@dataclass(frozen=True)
class Document:
    """tables: (sheet name, grid) for each visible sheet of an xlsx, ("", grid) for each table of a
    docx. problem: the Unreadable message (ends a sentence that starts "The attachment ...").
    overran: the reader ran out of time or memory, or stopped: the message is quarantined."""

    tables: list[tuple[str, Grid]] = field(default_factory=list)
    problem: str | None = None
    dangerous: bool = False
    overran: bool = False

    def to_json(self) -> dict[str, object]:
        return {"tables": [[name, grid] for name, grid in self.tables], "problem": self.problem,
                "dangerous": self.dangerous, "overran": self.overran}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Document:
        tables = data.get("tables") or []
        assert isinstance(tables, list)
        return cls([(str(name), grid) for name, grid in tables],
                   data.get("problem") if isinstance(data.get("problem"), str) else None,  # type: ignore[arg-type]
                   bool(data.get("dangerous")), bool(data.get("overran")))

    def grids(self, max_rows: int) -> list[Grid]:
        return [grid[:max_rows] for _name, grid in self.tables]


OVERRAN = Document(problem="could not be read within the time and memory allowed for one attachment.",
                   dangerous=True, overran=True)
