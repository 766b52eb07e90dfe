"""Who vouches for a sender: the Authentication-Results header (RFC 8601) that the site's own mail
gateway stamped on the message when it arrived.

A From line proves nothing. Anyone can write `From: social.worker@council.gov.uk`, and anyone can
add an Authentication-Results header saying `dmarc=pass`. What can be believed is a header that the
site's boundary gateway wrote: it names itself with its authserv-id, and RFC 8601 section 5 has it
remove any header that already claims that id. So only headers whose authserv-id the site lists
(`service.sender_authentication.trusted_authserv_ids`) are read, and every other one is ignored.
All of the trusted ones are read together (a gateway may write one per check): a method passes only
if every result for it says pass, a trusted header that cannot be read is a failure (never skipped,
so a sender cannot hide the gateway's verdict by making it unreadable), and the pass must name the
From address's own domain in header.from.

Exchange Online (and so NHSmail) stamps Authentication-Results without an authserv-id. For such a
site (`exchange_online: true`) the topmost Authentication-Results header counts, but only in a
message that also carries `X-MS-Exchange-Organization-AuthAs`: Exchange's header firewall removes
every X-MS-Exchange-Organization-* header from mail arriving from outside and writes its own, so the
header's presence shows the message came through the organisation's own transport, which puts its
Authentication-Results header on top. `AuthAs: Internal` means a mailbox of the same organisation
sent it, signed in: that is authenticated too (NHSmail is one organisation).

The verdict is pure: no I/O, no configuration beyond what is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import authres

EXCHANGE_AUTH_AS = "X-MS-Exchange-Organization-AuthAs"
_EXCHANGE_ID = "exchange-online"  # stands in for the authserv-id Exchange Online leaves out
_PASSING = ("dmarc", "compauth")  # methods whose pass vouches for the From domain
_SHOWN = ("spf", "dkim", "dmarc", "compauth")  # methods named in the verdict's detail


class Verdict(StrEnum):
    PASS = "pass"  # the trusted gateway says the From domain is genuine
    FAIL = "fail"  # the trusted gateway checked, and it is not
    MISSING = "missing"  # no Authentication-Results header at all
    UNTRUSTED = "untrusted"  # headers only from other authserv-ids (the sender may have written them)
    NOT_REQUIRED = "not-required"  # sender_authentication.required is false (a lab)


@dataclass(frozen=True)
class SenderAuth:
    verdict: Verdict
    detail: str = ""  # e.g. "dmarc=fail spf=fail": methods and results only, safe to log

    @property
    def passed(self) -> bool:
        return self.verdict in (Verdict.PASS, Verdict.NOT_REQUIRED)


@dataclass(frozen=True)
class GatewayTrust:
    """What the site trusts (config `service.sender_authentication`)."""

    required: bool
    authserv_ids: frozenset[str]
    exchange_online: bool = False


def authenticate(headers: tuple[str, ...], auth_as: str | None, sender: str | None,
                 trust: GatewayTrust) -> SenderAuth:
    """The verdict on one message from its Authentication-Results header values (topmost first),
    its X-MS-Exchange-Organization-AuthAs value if any, and its one From address."""
    verdict = _verdict(headers, auth_as, sender, trust)
    if not trust.required and not verdict.passed:
        return SenderAuth(Verdict.NOT_REQUIRED, f"{verdict.verdict}: {verdict.detail}".rstrip(": "))
    return verdict


def _verdict(headers: tuple[str, ...], auth_as: str | None, sender: str | None,
             trust: GatewayTrust) -> SenderAuth:
    if trust.exchange_online and auth_as is not None:
        if auth_as.strip().lower() == "internal":
            return SenderAuth(Verdict.PASS, "exchange authas=internal")
        if headers and _authserv_id(headers[0]) is None:  # Exchange's own form, on top
            results = _parse(f"{_EXCHANGE_ID}; {headers[0]}")
            return _judge([results] if results else None, sender)
    trusted = [value for value in headers if _authserv_id(value) in trust.authserv_ids]
    if trusted:
        parsed = [_parse(value) for value in trusted]
        return _judge(None if None in parsed else parsed, sender)  # type: ignore[arg-type]
    if not headers:
        return SenderAuth(Verdict.MISSING)
    return SenderAuth(Verdict.UNTRUSTED, f"{len(headers)} header(s), none from a trusted gateway")


def _authserv_id(value: str) -> str | None:
    """Who wrote a header, read from its raw text (before any parsing, so that a header the parser
    cannot read is still known to be the gateway's): the first word before the first semicolon, or
    None if that is already a result (`spf=pass`, Exchange Online's form)."""
    head = value.partition(";")[0].split()
    if not head or "=" in head[0]:
        return None
    return head[0].strip('"').rstrip(".").lower()


@lru_cache(maxsize=4096)
def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    """A header value, or None if it cannot be read or is longer than any genuine one. Remembered:
    authres takes a third of a millisecond a header, and a gateway writes the same one for many
    messages (the results are only read, never changed)."""
    if len(value) > MAX_HEADER:
        return None
    try:
        return authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
    except Exception:  # noqa: BLE001 - any fault in reading it: it vouches for nothing
        return None


MAX_HEADER = 16_000


def _judge(headers: list[authres.AuthenticationResultsHeader] | None, sender: str | None) -> SenderAuth:
    """Every trusted header together: a method passes only if it has a result and every result for it
    says pass; a header from the gateway that cannot be read is a failure, never skipped."""
    if headers is None:
        return SenderAuth(Verdict.FAIL, "a header from the gateway could not be read")
    results = [r for header in headers for r in header.results]
    found: dict[str, list[str]] = {}
    for r in results:
        found.setdefault(r.method.lower(), []).append(r.result.lower())
    detail = " ".join(f"{m}={'/'.join(dict.fromkeys(found[m]))}" for m in _SHOWN if m in found)
    domain = (sender or "").rpartition("@")[2].lower()
    stated = {p.value.lower().rstrip(".") for r in results for p in r.properties
              if f"{p.type}.{p.name}".lower() == "header.from"}
    if stated != {domain}:  # a pass speaks for the From domain it names, and only for that one
        return SenderAuth(Verdict.FAIL, detail + (" (for another domain)" if stated else " (no header.from)"))
    if any(found.get(method) and set(found[method]) == {"pass"} for method in _PASSING):
        return SenderAuth(Verdict.PASS, detail)
    return SenderAuth(Verdict.FAIL, detail or "no DMARC or compauth result")
