"""Cutting a large message for Graph: the draft keeps the message's headers and text, the files come
out whole, and the ranges follow Microsoft's rules (in order, under 4 MB, multiples of 320 KiB)."""

from __future__ import annotations

from email import message_from_bytes

from hypothesis import given
from hypothesis import strategies as st

from safeguard.adapters.mail.graph_upload import CHUNK, byte_ranges, split_attachments
from safeguard.adapters.notify.compose import compose
from safeguard.adapters.notify.render import Rendered
from tests.conftest import NOW


def test_the_draft_keeps_the_headers_and_text_and_the_files_come_out_whole() -> None:
    files = (("records.xlsx", b"PK\x03\x04" + bytes(range(256)) * 100), ("notes.txt", b"plain words\n"))
    raw = compose(Rendered("FGM return", "Attached.\n", "<p>Attached.</p>"), sender="sg@example-icb.test",
                  sender_name="Safeguarding", recipients=["a@uhcw.nhs.net"],
                  message_id="<r1@example-icb.test>", at=NOW, attachments=files)
    body, taken = split_attachments(raw)
    draft = message_from_bytes(body)
    assert draft["Message-ID"] == "<r1@example-icb.test>" and draft["Subject"] == "FGM return"
    assert [(f.name, f.data) for f in taken] == list(files)
    assert b"Attached." in body and not any(p.get_filename() for p in draft.walk())


@given(st.integers(min_value=1, max_value=40 * 1024 * 1024))
def test_ranges_cover_the_file_in_order_each_a_multiple_of_320_kib_but_the_last(size: int) -> None:
    ranges = list(byte_ranges(size))
    assert ranges[0][0] == 0 and ranges[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(last - first + 1 == CHUNK for first, last in ranges[:-1])
    assert CHUNK % (320 * 1024) == 0 and CHUNK < 4 * 1024 * 1024
