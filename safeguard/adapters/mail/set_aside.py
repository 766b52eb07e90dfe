"""Large encoded bodies set aside before a message is parsed, so that its memory is not several times
its size.

The standard library's parser holds a message about eight times over while it parses it (the text,
every line as its own string, the joined body, the decoded bytes): a 38 MB message peaked at 296 MB.
Base64 (and similar) bodies are runs of long lines of letters, digits, `+` and `/`, which no header or
MIME boundary line can be. Each run of more than MIN_BYTES is replaced by a short marker before
parsing; the parsed part's body is put back from the original bytes only when the part is used (a
text body, or an attachment small enough to be read), and an attachment too large to be read is
never decoded at all.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

MIN_BYTES = 1024 * 1024
# A whole body of the base64 alphabet and line breaks, starting right after the blank line that ends
# its part's headers. One character class (not a repeated group, for which the regex engine would keep
# a stack entry per line: 134 MB for a 38 MB body).
_RUN = re.compile(rb"(?:(?<=\r\n\r\n)|(?<=\n\n))[A-Za-z0-9+/=\r\n]{%d,}" % MIN_BYTES)
_MARKER = "SAFEGUARD-SET-ASIDE-"


@dataclass(frozen=True)
class SetAside:
    raw: bytes = b""
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # marker -> (start, end) in raw

    def span(self, payload: object) -> tuple[int, int] | None:
        """Where a part's body stands in the original, if it was set aside."""
        if not self.spans or not isinstance(payload, str) or not payload.startswith(_MARKER):
            return None
        return self.spans.get(payload.strip())

    def body(self, span: tuple[int, int]) -> str:
        return self.raw[span[0]:span[1]].decode("ascii")

    def decoded(self, span: tuple[int, int]) -> bytes:
        """A base64 body decoded straight from the original bytes (no copy of the encoded text)."""
        try:
            return binascii.a2b_base64(memoryview(self.raw)[span[0]:span[1]])
        except binascii.Error:  # as the standard library's get_payload(decode=True): what can be read
            return b""


def set_aside(raw: bytes) -> tuple[bytes, SetAside]:
    """The message with each long encoded run replaced by a marker, and what it takes to put them back."""
    if len(raw) < MIN_BYTES:
        return raw, SetAside()
    pieces: list[bytes] = []
    spans: dict[str, tuple[int, int]] = {}
    last = 0
    for match in _RUN.finditer(raw):
        start, end = match.span()
        if end < len(raw) and not raw.startswith(b"--", end):  # not the whole body up to a boundary: leave it
            continue
        marker = f"{_MARKER}{len(spans)}"
        ending = b"\r\n" if raw[end - 2:end] == b"\r\n" else b"\n"
        pieces += [raw[last:start], marker.encode() + ending]
        spans[marker] = (start, end)
        last = end
    if not spans:
        return raw, SetAside()
    pieces.append(raw[last:])
    return b"".join(pieces), SetAside(raw, spans)
