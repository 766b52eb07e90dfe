"""The tables of a Word document as a person reads them, from its XML (parsed by ooxml.SafeZip).

- Checkboxes read as answers: a content-control checkbox (w14:checkbox), a legacy form-field
  checkbox (FORMCHECKBOX), a Wingdings box symbol, or a typed ☒/☑/☐. A cell holding one box and
  nothing else reads `Yes` or `No`; boxes each beside an option (`☒ Yes ☐ No` or `Yes ☒ No ☐`)
  read as the ticked options.
- A content control still showing its placeholder ("Click or tap here to enter text.") is empty.
- A merged cell is read once: the columns a cell spans after its first (gridSpan), and a cell
  continuing a vertical merge (vMerge), are None, so columns stay aligned and nothing is repeated.

Walks the XML with an explicit stack, never recursion, so deep nesting cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Iterator

from safeguard.domain.forms.values import RawValue

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
W14 = "{http://schemas.microsoft.com/office/word/2010/wordml}"
CHECKED_GLYPHS, UNCHECKED_GLYPHS = "☒☑", "☐"
# Wingdings / Wingdings 2 box characters, as Word writes them in w:sym
CHECKED_SYMBOLS, UNCHECKED_SYMBOLS = {"F0FE", "F078", "F053", "F054"}, {"F0A8", "F06F", "F0A3", "F02A"}
_FALSE = ("0", "false", "off")

Token = str | bool  # text, or a checkbox (True when ticked)
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
# properties, deleted text, field codes, and the fallback copy of content given twice (mc:Fallback)
_NOT_READ = {f"{W}sdtPr", f"{W}rPr", f"{W}pPr", f"{W}tcPr", f"{W}del", f"{W}instrText", f"{MC}Fallback"}


def table_rows(table, max_rows: int, max_cols: int) -> list[list[RawValue]]:
    rows: list[list[RawValue]] = []
    for tr in _children(table, "tr"):
        if len(rows) >= max_rows:
            break
        before = _int_val(tr.find(f"{W}trPr/{W}gridBefore"), 0)
        cells: list[RawValue] = [None] * min(before, max_cols)
        for tc in _children(tr, "tc"):
            if len(cells) >= max_cols:
                break
            cells.append(None if _continues_merge(tc) else cell_value(tc))
            cells.extend([None] * (min(_int_val(tc.find(f"{W}tcPr/{W}gridSpan"), 1), max_cols) - 1))
        rows.append(cells[:max_cols])
    return rows


def _children(element, tag: str) -> Iterator:
    """Direct children with this tag, looking through content controls (w:sdt) that wrap them."""
    stack = [iter(element)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.tag == f"{W}{tag}":
            yield child
        elif child.tag in (f"{W}sdt", f"{W}sdtContent", f"{W}customXml"):
            stack.append(iter(child))


def _int_val(element, default: int) -> int:
    value = element.get(f"{W}val", "") if element is not None else ""
    return max(1, min(int(value), 1000)) if value.isdigit() else default


def _continues_merge(tc) -> bool:
    merge = tc.find(f"{W}tcPr/{W}vMerge")
    return merge is not None and merge.get(f"{W}val", "continue") == "continue"


def cell_value(tc) -> str:
    return answer(list(tokens(tc)))


def tokens(root) -> Iterator[Token]:
    """The cell's text and checkboxes in document order; each paragraph starts on a new line."""
    stack = [iter(root)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
            continue
        tag = element.tag
        if tag == f"{W}sdt":
            box = _content_control(element)
            if box is not None:
                yield box
            elif not _showing_placeholder(element):
                stack.append(iter(element))
        elif tag == f"{W}t" and element.text:
            yield from _glyphs(element.text)
        elif tag in (f"{W}tab", f"{W}br", f"{W}cr"):
            yield " " if tag == f"{W}tab" else "\n"
        elif tag == f"{W}fldChar":
            box = _legacy_checkbox(element)
            if box is not None:
                yield box
        elif tag == f"{W}sym":
            yield from _symbol(element)
        elif tag == f"{W}p":
            yield "\n"
            stack.append(iter(element))
        elif tag not in _NOT_READ:
            stack.append(iter(element))


def _content_control(sdt) -> bool | None:
    """A content-control checkbox's state (w14:checked), or None if the control is not one."""
    box = sdt.find(f"{W}sdtPr/{W14}checkbox")
    if box is None:
        return None
    checked = box.find(f"{W14}checked")
    return checked is not None and checked.get(f"{W14}val", "1").lower() not in _FALSE


def _showing_placeholder(sdt) -> bool:
    shown = sdt.find(f"{W}sdtPr/{W}showingPlcHdr")
    return shown is not None and shown.get(f"{W}val", "1").lower() not in _FALSE


def _legacy_checkbox(fld_char) -> bool | None:
    box = fld_char.find(f"{W}ffData/{W}checkBox")
    if box is None or fld_char.get(f"{W}fldCharType") != "begin":
        return None
    state = box.find(f"{W}checked")
    if state is None:
        state = box.find(f"{W}default")
        if state is None:
            return False
    return state.get(f"{W}val", "1").lower() not in _FALSE


def _symbol(sym) -> Iterator[Token]:
    char = sym.get(f"{W}char", "").upper()
    if char in CHECKED_SYMBOLS or char in UNCHECKED_SYMBOLS:
        yield char in CHECKED_SYMBOLS


def _glyphs(text: str) -> Iterator[Token]:
    start = 0
    for i, ch in enumerate(text):
        if ch in CHECKED_GLYPHS or ch in UNCHECKED_GLYPHS:
            if i > start:
                yield text[start:i]
            yield ch in CHECKED_GLYPHS
            start = i + 1
    if start < len(text):
        yield text[start:]


def answer(cell: list[Token]) -> str:
    """The cell as text: with no checkboxes, its paragraphs (blank ones left out); with one box and
    no option beside it, Yes or No; otherwise the options whose boxes are ticked. An option is the
    text after its box (`☒ Yes ☐ No`), or before it when the cell is written that way round
    (`Yes ☒ No ☐`)."""
    boxes = [t for t in cell if isinstance(t, bool)]
    if not boxes:
        return _text("".join(t for t in cell if isinstance(t, str)))
    between = [""]  # the text before the first box, between each two, and after the last
    for token in cell:
        if isinstance(token, bool):
            between.append("")
        else:
            between[-1] += token
    before = bool(_text(between[0])) and not _text(between[-1])
    options = [_text(between[i] if before else between[i + 1]) for i in range(len(boxes))]
    if len(boxes) == 1 and not options[0]:
        return "Yes" if boxes[0] else "No"
    return ", ".join(option for ticked, option in zip(boxes, options, strict=True) if ticked and option)


def _text(text: str) -> str:
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())
