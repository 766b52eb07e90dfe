"""HTML email bodies to `Label: value` lines: block elements break lines, table cells join with ': '."""

from __future__ import annotations

from html.parser import HTMLParser

_BREAKS = {"br", "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section"}
_SKIP = {"script", "style", "head", "title"}


class _Text(HTMLParser):
    def __init__(self, max_chars: int) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.cells_in_row = 0
        self.skipping = 0
        self.max_chars = max_chars
        self.size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BREAKS:
            self.lines.append("")
            self.cells_in_row = 0
        elif tag in ("td", "th"):
            if self.cells_in_row:
                self.lines[-1] += ": "
            self.cells_in_row += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skipping:
            self.skipping -= 1
        elif tag in _BREAKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self.skipping or self.size > self.max_chars:
            return
        self.size += len(data)
        parts = data.replace("\r", "").split("\n")
        self.lines[-1] += " ".join(parts[0].split()) if self.cells_in_row else parts[0]
        for part in parts[1:]:
            self.lines.append(part)


def html_to_lines(html: str, max_chars: int = 2_000_000) -> list[str]:
    parser = _Text(max_chars)
    try:
        parser.feed(html[:max_chars])
        parser.close()
    except Exception:  # noqa: BLE001 - a broken page still yields what was read so far
        pass
    return [line.rstrip() for line in parser.lines]
