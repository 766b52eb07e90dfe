"""Email commands: the subject line *is* the command, or it is not a command at all.

    WITHDRAW HSA-2026-000123                  body: Reason: Found | Resolved | Baby born | Other: text
    EXTEND HSA-2026-000123 to 2027-01-31
    APPROVE HSA-2026-000123 K7QM2XPD          from a listed approver, with the one-time code emailed to them
    REJECT HSA-2026-000123 K7QM2XPD           body: Reason: text (the sender is told it)
    SEEN HSA-2026-000123                      from a provider; body: optional When: and Where: lines
    CONFIRM HSA-DIGEST-2026W49-UHCW           from a provider, confirming its weekly "alerts you hold"

The whole subject must be the command (a `[secure]` marker aside), in capitals or not. A reply or
forward (`RE:`, `FW:`) is never a command that changes state, and neither is a sentence that happens
to hold a verb: "Please do NOT withdraw HSA-2026-000123 - child still missing" must never withdraw
the alert. A subject that mentions withdrawing or extending without being the command exactly is
`ambiguous`: it changes nothing, a person reads it, and the sender is told how to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

WITHDRAWAL_REASONS = ("Found", "Resolved", "Baby born")  # or "Other: <text>"
_VERB_WORD = re.compile(r"\b(?:withdraw|extend)\w*", re.IGNORECASE)
# ASCII: a dotless ı or fullwidth digit is not the letter or digit it mimics
_FLAGS = re.IGNORECASE | re.ASCII
_OTHER = re.compile(r"^other\s*[:\-]\s*(\S.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class SubjectCommand:
    verb: str | None  # "withdraw", "extend", "approve", "reject", "seen", "confirm" or None
    reference: str | None
    extend_to: str | None = None
    ambiguous: bool = False  # mentions a verb without being a command exactly
    digest: str | None = None  # CONFIRM's digest reference (not an alert's: never in `reference`)
    code: str | None = None  # approve / reject: the one-time code (never stored or logged)


APPROVAL_VERBS = ("approve", "reject")
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read off a phone and typed again
CODE_LENGTH = 8


def read_subject(subject: str, prefix: str, marker: str = "[secure]") -> SubjectCommand:
    text = _without_marker(" ".join(subject.split()), marker)
    ref = rf"({prefix}-\d{{4}}-\d{{6}})"
    if m := re.fullmatch(rf"WITHDRAW {ref}", text, _FLAGS):
        return SubjectCommand("withdraw", m.group(1).upper())
    if m := re.fullmatch(rf"EXTEND {ref} to (.+)", text, _FLAGS):
        return SubjectCommand("extend", m.group(1).upper(), m.group(2))
    if m := re.fullmatch(rf"(APPROVE|REJECT) {ref} ([A-Z0-9]{{4,16}})", text, _FLAGS):
        return SubjectCommand(m.group(1).lower(), m.group(2).upper(), code=m.group(3).upper())
    if m := re.fullmatch(rf"SEEN {ref}", text, _FLAGS):
        return SubjectCommand("seen", m.group(1).upper())
    if m := re.fullmatch(rf"CONFIRM ({prefix}-DIGEST-\d{{4}}W\d{{2}}-[A-Z0-9]{{1,10}})", text, _FLAGS):
        return SubjectCommand("confirm", None, digest=m.group(1).upper())
    quoted = re.search(ref, text, _FLAGS)
    return SubjectCommand(None, quoted.group(1).upper() if quoted else None,
                          ambiguous=_VERB_WORD.search(text) is not None)


def _without_marker(text: str, marker: str) -> str:
    low, mark = text.lower(), marker.lower()
    if mark and low.startswith(mark):
        text = text[len(mark):].strip()
    elif mark and low.endswith(mark):
        text = text[:-len(mark)].strip()
    return text


def body_reason(body: str | None) -> str | None:
    """The text of the body's first `Reason:` line (a rejection's reason), or None."""
    for line in (body or "").splitlines()[:50]:
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() == "reason" and (value := " ".join(value.split())):
            return value[:2000]
    return None


def withdrawal_reason(body: str | None) -> str | None:
    """The reason from the body's `Reason:` line, as one of the fixed reasons (or `Other: text`);
    None if there is no such line or it is not one of them."""
    for line in (body or "").splitlines()[:50]:
        label, sep, value = line.partition(":")
        if not sep or label.strip().lower() != "reason":
            continue
        value = " ".join(value.split())
        for reason in WITHDRAWAL_REASONS:
            if value.lower().rstrip(".") == reason.lower():
                return reason
        if (other := _OTHER.match(value)) is not None:
            return f"Other: {other.group(1)[:500]}"
        return None
    return None


def digest_reference(prefix: str, year: int, week: int, provider_code: str) -> str:
    """A provider's weekly digest: HSA-DIGEST-2026W49-UHCW (ISO year and week)."""
    return f"{prefix}-DIGEST-{year}W{week:02d}-{provider_code.upper()}"


def digest_provider(reference: str) -> str:
    """The provider code a digest reference was made for (its last part)."""
    return reference.rpartition("-")[2]


MAX_SEEN_TEXT = 200


def seen_details(body: str | None) -> tuple[str | None, str | None]:
    """The `When:` and `Where:` lines of a SEEN message's body (the first of each, shortened)."""
    found: dict[str, str] = {}
    for line in (body or "").splitlines()[:50]:
        label, sep, value = line.partition(":")
        key = label.strip().lower()
        if sep and key in ("when", "where") and key not in found and value.strip():
            found[key] = " ".join(value.split())[:MAX_SEEN_TEXT]
    return found.get("when"), found.get("where")


HOW_TO_WITHDRAW = ("Write the subject as WITHDRAW {ref} and nothing else (not a reply, no other words), "
                   "and put one of these lines in the body: Reason: Found, Reason: Resolved, "
                   "Reason: Baby born, or Reason: Other: followed by a few words.")
HOW_TO_DECIDE = ("Write the subject as APPROVE {ref} CODE or REJECT {ref} CODE, with the code from the "
                 "approval email we sent you and nothing else; to reject, put a line Reason: followed by "
                 "your reason in the body (the sender is told it).")
HOW_TO_EXTEND = ("Write the subject as EXTEND {ref} to YYYY-MM-DD and nothing else (not a reply, "
                 "no other words).")


# What triage decided a message asks for -----------------------------------------------------------
@dataclass(frozen=True)
class Withdraw:
    reference: str
    reason: str  # one of WITHDRAWAL_REASONS, or "Other: text" (free text: never logged)


@dataclass(frozen=True)
class Extend:
    reference: str
    review_date: date


@dataclass(frozen=True)
class Acknowledge:
    reference: str
    provider_address: str


@dataclass(frozen=True)
class Update:
    reference: str


@dataclass(frozen=True)
class EmailDecision:
    """A listed approver's APPROVE or REJECT by email. The one-time code is checked against its
    keyed hash in the register and never stored (command_to_json leaves it out)."""

    reference: str
    approve: bool
    code: str = ""
    reason: str = ""  # a rejection's reason (free text: never logged)


@dataclass(frozen=True)
class Seen:
    """A provider holding the alert has seen its subject (when and where: free text, never logged)."""

    reference: str
    provider_address: str
    when: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class ConfirmDigest:
    """A provider confirms its weekly "alerts you hold" digest matches its records."""

    digest: str
    provider_address: str


@dataclass(frozen=True)
class BounceReport:
    """A delivery failure about an email we sent (the outbox entry triage matched by Message-ID)."""

    outbox_id: int
    status: str  # the DSN status code, e.g. 5.1.1
    failure: str  # the status and diagnostic, described
    recipient: str


@dataclass(frozen=True)
class FgmFile:
    provider: str
    month: str | None
    file: str


Command = (Withdraw | Extend | Acknowledge | Update | BounceReport | FgmFile | EmailDecision | Seen
           | ConfirmDigest)

_VERBS: dict[type, str] = {Withdraw: "withdraw", Extend: "extend", Acknowledge: "acknowledge",
                           Update: "update", BounceReport: "bounce", EmailDecision: "decide",
                           Seen: "seen", ConfirmDigest: "confirm"}
_SECRET = frozenset({"code"})  # fields never written to the register or the audit


def command_to_json(command: Command | None) -> dict[str, Any] | None:
    """The one place a command becomes the JSON stored in InboundMessage.command (and the audit)."""
    if command is None:
        return None
    data: dict[str, Any] = {"verb": _VERBS[type(command)]} if type(command) in _VERBS else {}
    for name, value in vars(command).items():
        if name not in _SECRET:
            data[name] = value.isoformat() if isinstance(value, date) else value
    return data


def command_from_json(data: dict[str, Any] | None) -> Command | None:
    """The one place stored JSON becomes a command again (rows written before these types existed
    included: they are the same dicts). None for nothing, or for what no longer reads as one."""
    if not data:
        return None
    verb = data.get("verb")
    try:
        if verb == "withdraw":
            return Withdraw(str(data["reference"]), str(data.get("reason") or ""))
        if verb == "extend":
            return Extend(str(data["reference"]), date.fromisoformat(str(data["review_date"])))
        if verb == "acknowledge":
            return Acknowledge(str(data["reference"]), str(data["provider_address"]))
        if verb == "update":
            return Update(str(data["reference"]))
        if verb == "decide":
            return EmailDecision(str(data["reference"]), bool(data["approve"]), "",
                                 str(data.get("reason") or ""))
        if verb == "seen":
            return Seen(str(data["reference"]), str(data["provider_address"]), data.get("when"),
                        data.get("where"))
        if verb == "confirm":
            return ConfirmDigest(str(data["digest"]), str(data["provider_address"]))
        if verb == "bounce":
            return BounceReport(int(data["outbox_id"]), str(data.get("status") or ""),
                                str(data.get("failure") or ""), str(data.get("recipient") or ""))
        if verb is None and "provider" in data:
            month = data.get("month")
            return FgmFile(str(data["provider"]), None if month is None else str(month),
                           str(data.get("file") or ""))
    except (KeyError, TypeError, ValueError):
        return None
    return None
