"""Who vouches for a sender: the Authentication-Results header (RFC 8601) that the site's own mail
gateway stamped on the message when it arrived.

A From line proves nothing. Anyone can write `From: social.worker@council.gov.uk`, and anyone can
add an Authentication-Results header saying `dmarc=pass`. What can be believed is a header that the
site's boundary gateway wrote: it names itself with its authserv-id, and RFC 8601 section 5 has it
remove any header that already claims that id. So only headers whose authserv-id the site lists
(`service.sender_authentication.trusted_authserv_ids`) are read, the topmost first (the gateway
writes its header above everything the message arrived with), and every other one is ignored.

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
        if headers and (results := _parse(headers[0], exchange=True)) is not None:
            return _judge(results, sender)
    for value in headers:
        results = _parse(value, exchange=False)
        if results is not None and results.authserv_id.lower() in trust.authserv_ids:
            return _judge(results, sender)
    if not headers:
        return SenderAuth(Verdict.MISSING)
    return SenderAuth(Verdict.UNTRUSTED, f"{len(headers)} header(s), none from a trusted gateway")


def _parse(value: str, *, exchange: bool) -> authres.AuthenticationResultsHeader | None:
    """A header value, or None if it cannot be read (a malformed header vouches for nothing)."""
    text = " ".join(value.split())
    try:
        return authres.AuthenticationResultsHeader.parse_value(text)
    except Exception:  # any fault in reading it: it vouches for nothing
        if not exchange:
            return None
    try:  # Exchange Online's form: results with no authserv-id in front
        return authres.AuthenticationResultsHeader.parse_value(f"{_EXCHANGE_ID}; {text}")
    except Exception:
        return None


def _judge(header: authres.AuthenticationResultsHeader, sender: str | None) -> SenderAuth:
    results = {r.method.lower(): r for r in header.results if r.method.lower() in _SHOWN}
    detail = " ".join(f"{m}={results[m].result.lower()}" for m in _SHOWN if m in results)
    domain = (sender or "").rpartition("@")[2].lower()
    for method in _PASSING:
        result = results.get(method)
        if result is not None and result.result.lower() == "pass" and _aligned(result, domain):
            return SenderAuth(Verdict.PASS, detail)
    return SenderAuth(Verdict.FAIL, detail or "no DMARC or compauth result")


def _aligned(result: authres.core.AuthenticationResult, domain: str) -> bool:
    """A DMARC pass speaks for the domain in its header.from; it must be the From address's."""
    stated = [p.value.lower() for p in result.properties if f"{p.type}.{p.name}".lower() == "header.from"]
    return not stated or (bool(domain) and domain in stated)
