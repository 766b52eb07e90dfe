"""The `safeguard` command. Errors are plain English with what to do next; never a stack trace."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from cli.admin import (
    audit_command,
    calendar_command,
    config_command,
    db_command,
    fgm_command,
    keys_command,
    prefect_command,
    return_command,
    template_command,
)
from cli.decisions import decision_command, reinstate_command
from cli.governance import erase_command, sar_command
from cli.jobs import (
    demo_command,
    intake_command,
    mailbox_command,
    reconcile_command,
    reminders_command,
    send_unsent_command,
    serve_command,
)
from cli.listing import alerts_command
from safeguard.adapters.config_files import ConfigError

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safeguard", description="Health safeguarding alert pipelines.")
    parser.add_argument("--config", help="configuration folder (default: $SAFEGUARD_CONFIG or ./config)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run intake on sample submissions in a fresh local Maildir")
    demo.add_argument("--dir", default="var/demo", help="where the demo mailbox and register go")
    intake = sub.add_parser("intake", help="read the mailbox and answer every sender")
    intake.add_argument("--once", action="store_true", help="one poll, then exit")
    intake.add_argument("--batch-size", type=int, default=None)
    intake.add_argument("--without-prefect", action="store_true",
                        help="run in this process without Prefect (when the Prefect server is down)")
    template = sub.add_parser("template", help="write a template for people to fill in")
    template.add_argument("which", choices=["form", "fgm"], help="form: the health alert form; fgm: the FGM "
                          "monthly submission template")
    template.add_argument("out", type=Path)
    for verb, text in (("approve", "approve an alert waiting for a decision, and send its notices"),
                       ("reject", "reject an alert waiting for a decision, and tell the sender why")):
        decision = sub.add_parser(verb, help=text)
        decision.add_argument("reference", help="e.g. HSA-2026-000123")
        decision.add_argument("--by", required=True, help="your name exactly as listed in settings.yaml "
                              "service.approvers (the register records who decided)")
        decision.add_argument("--version", type=int, default=None,
                              help="the form version (default: the one waiting)")
        decision.add_argument("--note", default="", help="optional note kept in the register")
        decision.add_argument("--withdrawal", action="store_true",
                              help="decide the withdrawal request waiting on the alert, not a form")
        if verb == "approve":
            decision.add_argument("--leave-out", nargs="*", default=[], metavar="CODE",
                                  help="provider codes to leave out (you cannot add one)")
        else:
            decision.add_argument("--reason", required=True, help="why: the sender is told it")
    again = sub.add_parser("reinstate", help="make a withdrawn alert active again, and tell the providers "
                           "that were told of its withdrawal to flag it again")
    again.add_argument("reference", help="e.g. HSA-2026-000123")
    again.add_argument("--by", required=True, help="your name exactly as listed in settings.yaml "
                       "service.approvers (the register records who reinstated it)")
    again.add_argument("--reason", required=True, help="why: kept in the register")
    sub.add_parser("send-unsent", help="send every email the outbox holds unsent (after an interruption)")
    reminders = sub.add_parser("reminders", help="send the reminders and escalations due now (or at --now)")
    reminders.add_argument("--now", default=None, help="run the rules at this instant, e.g. 2026-12-24T08:00")
    reminders.add_argument("--without-prefect", action="store_true",
                           help="run in this process without Prefect")
    reconcile = sub.add_parser("reconcile",
                               help="check that mailbox, outbox and register agree; email a digest")
    reconcile.add_argument("--without-prefect", action="store_true",
                           help="run in this process without Prefect")
    sub.add_parser("calendar", help="bank holidays").add_argument(
        "action", choices=["refresh"],
        help="fetch the GOV.UK bank-holidays list into config/bank-holidays.json")
    sub.add_parser("serve", help="run every deployment of prefect.yaml, on its schedule, in this process")
    sub.add_parser("mailbox", help="the configured mailbox").add_argument(
        "action", choices=["check"], help="connect, count each folder, and send a test message to itself")
    sub.add_parser("keys", help="keys for personal data at rest").add_argument(
        "action", choices=["new", "rotate"],
        help="new: print a fresh key; rotate: re-encrypt with the first key")
    fgm = sub.add_parser("fgm", help="import providers' FGM submission files")
    fgm_actions = fgm.add_subparsers(dest="action", required=True)
    imp = fgm_actions.add_parser("import", help="import one file (the template or a CSV with its headers)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--provider", required=True, help="the submitting organisation's code in the directory")
    imp.add_argument("--month", default=None, help="YYYY-MM, if the file does not say")
    fgm_actions.add_parser("import-folder", help="import every file in config/fgm.yaml's drop_folder")
    restore = fgm_actions.add_parser("restore", help="undo a replacement: put a replaced submission back, "
                                     "and mark the file that replaced it as replaced")
    restore.add_argument("submission", type=int, help="the replaced submission's number (the FGM return's "
                         "Submissions sheet, or the admin team's email, gives it)")
    restore.add_argument("--by", default=None, help="who is restoring it (default: your login name)")
    ret = sub.add_parser("return", help="produce a monthly return")
    ret.add_argument("which", choices=["fgm", "activity", "all"])
    ret.add_argument("--month", required=True, help="YYYY-MM")
    ret.add_argument("--out", type=Path, default=None,
                     help="folder for the workbooks (default: settings.yaml)")
    ret.add_argument("--email", action="store_true", help="also email them as the monthly deployment does")
    audit = sub.add_parser("audit", help="check the audit log, or export one alert's history")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    verify = audit_actions.add_parser("verify", help="check the chain from the last checkpoint (--full: from "
                                      "the first entry), and list the entries whose details were erased")
    verify.add_argument("--full", action="store_true", help="check every entry, not only those since the "
                        "last checkpoint")
    export = audit_actions.add_parser("export", help="one alert's full history as a spreadsheet")
    export.add_argument("--alert", required=True, help="the alert reference, e.g. HSA-2026-000123")
    export.add_argument("out", type=Path, help="the .xlsx file to write")
    export.add_argument("--by", default=None, help="who is exporting (default: your login name)")
    alerts = sub.add_parser("alerts", help="list the alerts: references, states, types, providers, ages, "
                            "review dates (no names unless --show-names)")
    alerts.add_argument("--state", default=None,
                        help="only alerts in this state: awaiting_approval, active, rejected or withdrawn")
    alerts.add_argument("--provider", default=None, metavar="CODE", help="only alerts this provider holds")
    alerts.add_argument("--show-names", action="store_true",
                        help="add the subjects' names (recorded in the audit log with who asked)")
    alerts.add_argument("--by", default=None, help="with --show-names: who is looking (default: your login "
                        "name)")
    sar = sub.add_parser("sar", help="subject access: everything held about one person")
    sar_actions = sar.add_subparsers(dest="action", required=True)
    sar_export = sar_actions.add_parser("export", help="write it to a spreadsheet, other people redacted")
    sar_export.add_argument("--nhs-number", default=None, help="the person's NHS number")
    sar_export.add_argument("--name", default=None, help="or their name as on the form (forenames surname)")
    sar_export.add_argument("--dob", default=None, help="and their date of birth, YYYY-MM-DD")
    sar_export.add_argument("--redact-staff", action="store_true",
                            help="also redact staff names, email addresses and phone numbers")
    sar_export.add_argument("--out", type=Path, default=None,
                            help="the .xlsx file to write (default: a new file in exports.folder)")
    sar_export.add_argument("--by", default=None, help="who is exporting (default: your login name)")
    erase = sub.add_parser("erase", help="erase one alert's personal data now (an erasure request)")
    erase.add_argument("--alert", required=True, help="the alert reference, e.g. HSA-2026-000123")
    erase.add_argument("--authorised-by", required=True, help="who authorised the erasure (full name)")
    erase.add_argument("--reason", required=True, help="why: kept in the audit log")
    sub.add_parser("config", help="check the configuration").add_argument("action", choices=["check"])
    sub.add_parser("db", help="database schema").add_argument("action", choices=["upgrade"])
    sub.add_parser("prefect", help="set up the site's Prefect server beside the deployments (the automation "
                   "that marks runs of a lost host crashed)").add_argument("action", choices=["setup"])
    return parser


HANDLERS: dict[str, Handler] = {
    "demo": demo_command, "intake": intake_command, "send-unsent": send_unsent_command,
    "reminders": reminders_command, "reconcile": reconcile_command, "serve": serve_command,
    "mailbox": mailbox_command, "approve": decision_command, "reject": decision_command,
    "reinstate": reinstate_command, "template": template_command, "audit": audit_command,
    "config": config_command, "db": db_command, "calendar": calendar_command, "fgm": fgm_command,
    "return": return_command, "keys": keys_command, "alerts": alerts_command, "sar": sar_command,
    "erase": erase_command, "prefect": prefect_command,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if level := os.environ.get("SAFEGUARD_LOG_LEVEL"):
        logging.basicConfig(level=level)
    try:
        return HANDLERS[args.command](args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # users get a sentence, not a traceback
        logging.getLogger("safeguard").debug("unexpected error", exc_info=True)
        print(f"Something went wrong ({type(exc).__name__}). Nothing was lost: unprocessed mail stays in the "
              "inbox. Run again with SAFEGUARD_LOG_LEVEL=DEBUG for details, or contact IT.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
