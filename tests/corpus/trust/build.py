"""Write the trust corpus: emails that try to change an active alert without the right to, each as it
would arrive, named NNN-what.eml, with expected outcomes in expected.yaml. Every one is run against a
register that holds one approved, dispatched alert (HSA-2026-000001, held by UHCW and SWFT) and must
change nothing, except the few marked `effect: true` (the controls, which prove the test can see an
effect). Regenerate with: .venv/bin/python -m tests.corpus.trust.build"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from safeguard.adapters.config_files import load_config
from safeguard.adapters.workbooks.fgm_template import fgm_file
from testkit import samples
from testkit.fgm_synthetic import record, valid_nhs_numbers
from tests.factories import INBOX, SW, TM, fields, people

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
REF = "HSA-2026-000001"
ADMIN = "safeguarding-admin@example-icb.test"
UHCW = "safeguarding@uhcw.test"
UNTRUSTED = "mx.attacker.test"
EXCHANGE_FORM = ("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom={d}; dkim=pass (signature was verified) "
                 "header.d={d};dmarc=pass action=none header.from={d};compauth=pass reason=100")


def stamp(sender: str, result: str = "pass", authserv_id: str = samples.GATEWAY) -> dict[str, str]:
    return {"Authentication-Results": samples.gateway_stamp(sender, result, authserv_id)}


FAIL = "fail"


def mail(sender: str, subject: str, body: str = "See subject.\n", auth: str | dict[str, str] | None = "pass",
         attachments: tuple = (), extra: dict[str, str] | None = None) -> bytes:
    """auth: "pass" or "fail" from the trusted gateway, "untrusted" (a pass from another id), None (no
    header), or a dict of headers given as they are."""
    headers: dict[str, str] = {}
    if isinstance(auth, dict):
        headers.update(auth)
    elif auth == "untrusted":
        headers.update(stamp(sender, "pass", UNTRUSTED))
    elif auth is not None:
        headers.update(stamp(sender, auth))
    headers.update(extra or {})
    return samples.submission(sender, INBOX, subject=subject, body=body, attachments=list(attachments),
                              extra_headers=headers, authenticated=False)


def update_form() -> tuple:
    return (("form.xlsx", samples.xlsx_form(fields(**{"Alert reference": REF, "Urgency": "Routine"}),
                                            people())),)


def fgm_attachment() -> tuple:
    fgm = load_config(ROOT / "config").fgm
    nhs = valid_nhs_numbers()
    rows = [record(next(nhs), date(2026, 10, 5 + i)) for i in range(3)]
    return (("fgm-2026-10.xlsx", fgm_file(fgm, rows, month="2026-10", organisation="UHCW")),)


def by_auth(auth: str | None) -> dict[str, Callable[[], bytes]]:
    """The five kinds of message that change something, each with the same authentication fault."""
    return {
        "withdraw": lambda: mail(SW, f"WITHDRAW {REF}", "Reason: Found\n", auth),
        "extend": lambda: mail(TM, f"EXTEND {REF} to 2027-01-15", auth=auth),
        "update": lambda: mail(SW, f"{REF} updated form", "Updated form attached.\n", auth, update_form()),
        "acknowledgement": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT for UHCW", "Received, flagged.\n",
                                        auth),
        "fgm": lambda: mail(UHCW, "FGM return 2026-10", "Attached.\n", auth, fgm_attachment()),
        "new-alert": lambda: mail(SW, "Health alert form", samples.text_form(fields(), people()), auth),
    }


CASES: dict[str, Callable[[], bytes]] = {
    **{f"forged-{k}-dmarc-fail": v for k, v in by_auth(FAIL).items()},
    **{f"{k}-pass-from-untrusted-gateway": v for k, v in by_auth("untrusted").items() if k != "new-alert"},
    **{f"{k}-no-authentication-header": v for k, v in by_auth(None).items() if k != "new-alert"},
    "forged-withdraw-from-admin-team-address": lambda: mail(ADMIN, f"WITHDRAW {REF}", "Reason: Found\n",
                                                            FAIL),
    "withdraw-dmarc-pass-for-another-domain": lambda: mail(SW, f"WITHDRAW {REF}", "Reason: Found\n",
                                                           stamp("attacker@evil.test")),
    "withdraw-senders-own-pass-below-the-gateways-fail": lambda: (
        b"Authentication-Results: " + samples.gateway_stamp(SW, FAIL).encode() + b"\n"
        + mail(SW, f"WITHDRAW {REF}", "Reason: Found\n", "pass")),
    "withdraw-exchange-style-header-at-a-non-exchange-site": lambda: mail(
        SW, f"WITHDRAW {REF}", "Reason: Found\n",
        {"Authentication-Results": EXCHANGE_FORM.format(d=SW.split("@")[1])}),
    "withdraw-unreadable-authentication-header": lambda: mail(
        SW, f"WITHDRAW {REF}", "Reason: Found\n",
        {"Authentication-Results": "mx.example-icb.test; dmarc=pass ((("}),
    # the subject is the command, or not a command at all
    "please-do-not-withdraw": lambda: mail(SW, f"Please do NOT withdraw {REF} - child still missing"),
    "should-we-withdraw-question": lambda: mail(SW, f"RE: Should we withdraw {REF}?"),
    "reply-to-a-withdraw": lambda: mail(SW, f"RE: WITHDRAW {REF}", "Reason: Found\n"),
    "forwarded-withdraw": lambda: mail(SW, f"FW: WITHDRAW {REF}", "Reason: Found\n"),
    "withdraw-with-words-after": lambda: mail(SW, f"WITHDRAW {REF} please", "Reason: Found\n"),
    "withdrawal-of-in-a-sentence": lambda: mail(TM, f"Withdrawal of {REF}", "Reason: Found\n"),
    "reply-to-an-extend": lambda: mail(TM, f"RE: EXTEND {REF} to 2027-01-15"),
    "extend-without-a-date": lambda: mail(TM, f"EXTEND {REF}"),
    "extend-in-a-sentence": lambda: mail(TM, f"Can we extend {REF} to 2027-01-15?"),
    "withdraw-without-a-reason": lambda: mail(SW, f"WITHDRAW {REF}", "Thanks.\n"),
    "withdraw-with-a-reason-not-on-the-list": lambda: mail(SW, f"WITHDRAW {REF}", "Reason: he came home\n"),
    "withdraw-from-the-admin-team-address": lambda: mail(ADMIN, f"WITHDRAW {REF}", "Reason: Found\n"),
    "extend-from-someone-not-on-record": lambda: mail("someone.else@coventry-council.test",
                                                      f"EXTEND {REF} to 2027-01-15"),
    # automatic replies: never an acknowledgement, never a command
    "ooo-auto-submitted": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT", "Away.\n",
                                       extra={"Auto-Submitted": "auto-replied"}),
    "ooo-x-autoreply": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT", "Away.\n",
                                    extra={"X-Autoreply": "yes"}),
    "ooo-x-autorespond": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT", "Away.\n",
                                      extra={"X-Autorespond": "Out of office"}),
    "ooo-precedence-auto-reply": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT", "Away.\n",
                                              extra={"Precedence": "auto_reply"}),
    "ooo-exchange-inbox-rules-loop": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT", "Away.\n",
                                                  extra={"X-MS-Exchange-Inbox-Rules-Loop": UHCW}),
    "ooo-automatic-reply-subject": lambda: mail(UHCW, f"Automatic reply: {REF}: HEALTH ALERT", "Away.\n"),
    "ooo-out-of-office-subject": lambda: mail(UHCW, f"Out of Office: {REF}: HEALTH ALERT", "Away.\n"),
    "ooo-withdraw-from-the-social-worker": lambda: mail(SW, f"WITHDRAW {REF}", "Reason: Found\n",
                                                        extra={"Auto-Submitted": "auto-replied"}),
    # controls: genuine, authenticated, exactly phrased (these do change the alert)
    "control-acknowledgement": lambda: mail(UHCW, f"RE: {REF}: HEALTH ALERT for UHCW",
                                            "Received, flagged.\n"),
    "control-extend": lambda: mail(TM, f"EXTEND {REF} to 2027-01-15"),
    "control-extend-with-secure-marker": lambda: mail(TM, f"[secure] EXTEND {REF} to 2027-01-15"),
}


def main() -> None:
    names = [f"{n:03d}-{name}.eml" for n, name in enumerate(CASES, start=1)]
    for old in HERE.glob("*.eml"):
        old.unlink()
    for filename, build in zip(names, CASES.values(), strict=True):
        (HERE / filename).write_bytes(build())
    sys.stderr.write(f"wrote {len(names)} files to {HERE}\n")


if __name__ == "__main__":
    main()
