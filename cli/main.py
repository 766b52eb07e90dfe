"""The `safeguard` command. Errors are plain English with what to do next; never a stack trace."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

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
        decision.add_argument("--by", required=True, help="your full name (the register records who decided)")
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
    again.add_argument("--by", required=True, help="your full name (the register records who reinstated it)")
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
    ret = sub.add_parser("return", help="produce a monthly return")
    ret.add_argument("which", choices=["fgm", "activity", "all"])
    ret.add_argument("--month", required=True, help="YYYY-MM")
    ret.add_argument("--out", type=Path, default=None,
                     help="folder for the workbooks (default: settings.yaml)")
    ret.add_argument("--email", action="store_true", help="also email them as the monthly deployment does")
    audit = sub.add_parser("audit", help="check the audit log, or export one alert's history")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    audit_actions.add_parser("verify", help="check every link of the hash chain")
    export = audit_actions.add_parser("export", help="one alert's full history as a spreadsheet")
    export.add_argument("--alert", required=True, help="the alert reference, e.g. HSA-2026-000123")
    export.add_argument("out", type=Path, help="the .xlsx file to write")
    export.add_argument("--by", default=None, help="who is exporting (default: your login name)")
    sub.add_parser("config", help="check the configuration").add_argument("action", choices=["check"])
    sub.add_parser("db", help="database schema").add_argument("action", choices=["upgrade"])
    return parser


def _demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo
    return run_demo(Path(args.dir), args.config)


def _intake(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    app = open_app(args.config)
    if not args.once:
        print("Use 'safeguard intake --once' for one poll; scheduled polling runs from the deployment "
              "(prefect.yaml, every minute).")
        return 2
    batch = args.batch_size or app.config.settings.limits.batch_size
    if args.without_prefect:
        summary = _intake_direct(app, args.config, batch)
    else:
        from flows.intake import intake
        summary = intake(config_dir=args.config, batch_size=batch)
    print("Intake finished: " + ", ".join(f"{k} {v}" for k, v in summary.items() if v)
          if any(summary.values())
          else "Intake finished: the mailbox had no new messages.")
    return 0


def _intake_direct(app, config_dir: str | None, batch: int) -> dict[str, int]:  # an App
    """The same pass the intake flow's task runs (service.intake_pool.intake_pass)."""
    from collections import Counter
    from functools import partial

    from safeguard.bootstrap import open_intake_context
    from safeguard.service_layer.intake_pool import intake_pass
    run = intake_pass(partial(open_intake_context, config_dir), batch,
                      app.config.settings.limits.intake_workers)
    return {str(outcome): n for outcome, n in Counter(r.outcome for r in run.results).items()}


def _template(args: argparse.Namespace) -> int:
    if args.which == "fgm":
        from safeguard.adapters.config_files import load_config
        from safeguard.adapters.workbooks.fgm_template import build_fgm_template
        print(f"Wrote {build_fgm_template(load_config(args.config).fgm, args.out)}")
        return 0
    from safeguard.adapters.workbooks.form_template import build_form_template
    print(f"Wrote {build_form_template(args.out)}")
    return 0


def _mailbox(args: argparse.Namespace) -> int:
    from safeguard.adapters.mail.port import MailboxError
    from safeguard.adapters.notify.compose import compose, message_id_for
    from safeguard.adapters.notify.render import Rendered
    from safeguard.bootstrap import open_app, utc_now
    app = open_app(args.config)
    config = app.config
    adapter, address = config.settings.mailbox.adapter, config.settings.service.mailbox_address
    try:
        with app.intake_context() as ctx:
            counts = ctx.mailbox.folder_counts()
            print(f"Connected to {address} ({adapter}). "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
            key = f"mailbox-check:{utc_now().isoformat()}"
            message_id = message_id_for(key, address.rpartition("@")[2])
            raw = compose(Rendered("safeguard mailbox check",
                                   "A test message from 'safeguard mailbox check'.\n",
                                   "<p>A test message from 'safeguard mailbox check'.</p>"),
                          sender=address, sender_name=config.settings.service.name, recipients=[address],
                          message_id=message_id, at=utc_now())
            ctx.mailbox.send(raw, message_id=message_id, recipients=[address])
            if not ctx.mailbox.in_sent(message_id):
                print("Sent a test message to itself, but no copy is in Sent: check the mailbox's "
                      "Sent folder settings.", file=sys.stderr)
                return 1
    except MailboxError as exc:
        print(f"The mailbox check failed: {exc}. Nothing was changed.", file=sys.stderr)
        return 1
    print("Sent a test message to itself and found the copy in Sent. The next intake run will file it "
          "(it is an automatic message, so it is quarantined, and the admin team is told).")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from safeguard.adapters.register.crypto import new_key
    if args.action == "new":
        print(new_key())
        print("Keep this key in your secret store. Put it first in SAFEGUARD_DATA_KEYS (old keys after it, "
              "comma-separated), run 'safeguard keys rotate', then remove the old keys.", file=sys.stderr)
        return 0
    from safeguard.adapters.register.keys import rotate_all
    from safeguard.bootstrap import open_app
    app = open_app(args.config)
    counts = rotate_all(app.engine)
    with app.uow() as u:
        from safeguard.bootstrap import utc_now
        u.register.audit(actor="system", action="keys rotated", at=utc_now(), rows=counts)
        u.commit()
    print("Re-encrypted with the current key: " + ", ".join(f"{k} {v}" for k, v in counts.items()) +
          ". The old keys can now be removed from SAFEGUARD_DATA_KEYS.")
    return 0


def _fgm(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app, utc_now
    from safeguard.service_layer.fgm_intake import import_drop_folder, import_file
    app = open_app(args.config)
    if args.action == "import-folder":
        counts = import_drop_folder(app.uow, app.config, utc_now())
        with app.intake_context() as ctx:
            from safeguard.service_layer.intake import send_unsent
            send_unsent(ctx)
        print(f"FGM drop folder: {counts['imported']} imported, {counts['rejected']} rejected.")
        return 0
    if not args.file.is_file():
        print(f"There is no file {args.file}.", file=sys.stderr)
        return 2
    with app.uow() as u:
        result, sub, problem = import_file(u.register, app.config, args.file, args.provider.strip().upper(),
                                           args.month, "command", utc_now())
        u.commit()
    if result is None:
        print(f"Not imported: {problem}", file=sys.stderr)
        return 1
    print(f"{result.provider} {result.month}: {result.status}, {result.rows_valid} record(s) kept, "
          f"{result.rows_with_errors} row(s) with errors"
          + (", replacing the earlier file" if result.replaced else "")
          + ".")
    for e in (sub.errors if sub else [])[:50]:
        print(f"  Row {e.row}, {e.column}: {e.message}")
    from safeguard.domain.status import FgmSubmissionStatus
    return 0 if result.status == FgmSubmissionStatus.ACCEPTED else 1


def _return(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.returns import check_month, email_returns, produce
    try:
        month = check_month(args.month)
    except ValueError as exc:
        print(f"{exc}.", file=sys.stderr)
        return 2
    which = ("fgm", "activity") if args.which == "all" else (args.which,)
    with open_app(args.config).intake_context() as ctx:
        result = produce(ctx, month, which, args.out)
        if args.email:
            email_returns(ctx, result)
    for kind, path in result.files.items():
        print(f"Wrote {kind}: {path}"
              + ("   (patient-identifiable: OFFICIAL-SENSITIVE)" if kind == "record-level" else ""))
    if result.fgm_headline:
        print("FGM (rounded): " + ", ".join(f"{k} {v}" for k, v in result.fgm_headline.items()))
    return 0


def _decision(args: argparse.Namespace) -> int:
    if args.withdrawal:
        return _withdrawal_decision(args)
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.approval import ApprovalRequest, DecisionRefused
    from safeguard.service_layer.dispatch import give_decision, send_alert_email
    approve = args.command == "approve"
    request = ApprovalRequest(approve, args.by, "" if approve else args.reason,
                              tuple(getattr(args, "leave_out", [])), args.note)
    reference = args.reference.strip().upper()
    with open_app(args.config).intake_context() as ctx:
        try:
            outcome = give_decision(ctx, reference, args.version, request)
        except DecisionRefused as refused:
            sent = send_alert_email(ctx, reference).get("sent", 0)  # finish what an interrupted run left
            print(refused.message, file=sys.stderr)
            if refused.code == "already-decided" and _withdrawal_waits(ctx, reference):
                print(f"A withdrawal of {reference} is waiting for a decision: add --withdrawal to "
                      "decide it.", file=sys.stderr)
            if sent:
                print(f"Sent {sent} email(s) for {reference} that an earlier run had left unsent.")
            return 1
        counts = send_alert_email(ctx, reference)
    words = {"alert": "Alert notices", "update": "Update notices", "withdrawal": "Withdrawal notices"}
    print(f"{reference} version {outcome.version} {outcome.decision} by {' '.join(args.by.split())}.")
    for kind, codes in outcome.notices.items():
        print(f"  {words.get(kind, kind)}: {', '.join(codes)}")
    for n in outcome.not_sent:
        print(f"  NOT SENT to {n.code}: it {n.why}. The admin team has been emailed.")
    print(f"  Email sent now: {counts.get('sent', 0)}" + (
        f"; {counts['deferred']} could not be sent yet and will be retried by the next intake run."
        if counts.get("deferred") else "."))
    if outcome.approval_run_id:
        from flows.alert_approval import resume_waiting_run
        print("  Prefect: "
              f"{resume_waiting_run(outcome.approval_run_id, 'approve' if approve else 'reject', args.by)}.")
    return 0


def _withdrawal_waits(ctx, reference: str) -> bool:  # an IntakeContext
    from safeguard.service_layer.withdrawal_dispatch import withdrawal_form
    return withdrawal_form(ctx, reference) is not None


def _withdrawal_decision(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.domain.status import RequestStatus
    from safeguard.service_layer.approval import DecisionRefused
    from safeguard.service_layer.dispatch import send_alert_email
    from safeguard.service_layer.withdrawal import WithdrawalAnswer
    from safeguard.service_layer.withdrawal_dispatch import give_withdrawal_decision
    approve = args.command == "approve"
    if approve and args.leave_out:
        print("A withdrawal goes to every provider holding the alert: --leave-out cannot be used with "
              "--withdrawal. Nothing was recorded.", file=sys.stderr)
        return 2
    reference = args.reference.strip().upper()
    answer = WithdrawalAnswer(approve, args.by, "" if approve else args.reason, args.note)
    with open_app(args.config).intake_context() as ctx:
        try:
            outcome = give_withdrawal_decision(ctx, reference, answer)
        except DecisionRefused as refused:
            sent = send_alert_email(ctx, reference).get("sent", 0)  # finish what an interrupted run left
            print(refused.message, file=sys.stderr)
            if sent:
                print(f"Sent {sent} email(s) for {reference} that an earlier run had left unsent.")
            return 1
        counts = send_alert_email(ctx, reference)
    by = " ".join(args.by.split())
    if outcome.decision == RequestStatus.APPROVED:
        print(f"{reference} withdrawn by {by}. Withdrawal notices: "
              f"{', '.join(outcome.notices) or 'none (no provider held it)'}.")
    else:
        print(f"The withdrawal of {reference} was declined by {by}: the alert stays active and the "
              "requester is told.")
    _print_not_sent_and_counts(outcome.not_sent, counts)
    if outcome.approval_run_id:
        from flows.withdrawal_decision import resume_waiting_withdrawal_run
        answer = "approve" if approve else "decline"
        print(f"  Prefect: {resume_waiting_withdrawal_run(outcome.approval_run_id, answer, by)}.")
    return 0


def _reinstate(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.approval import DecisionRefused
    from safeguard.service_layer.dispatch import send_alert_email
    from safeguard.service_layer.withdrawal_dispatch import give_reinstatement
    reference = args.reference.strip().upper()
    with open_app(args.config).intake_context() as ctx:
        try:
            outcome = give_reinstatement(ctx, reference, args.by, args.reason)
        except DecisionRefused as refused:
            sent = send_alert_email(ctx, reference).get("sent", 0)
            print(refused.message, file=sys.stderr)
            if sent:
                print(f"Sent {sent} email(s) for {reference} that an earlier run had left unsent.")
            return 1
        counts = send_alert_email(ctx, reference)
    print(f"{reference} reinstated by {' '.join(args.by.split())}: it is active again. "
          "\"Withdrawal cancelled\" notices: "
          f"{', '.join(outcome.notices) or 'none (no provider was told of the withdrawal)'}.")
    _print_not_sent_and_counts(outcome.not_sent, counts)
    return 0


def _print_not_sent_and_counts(not_sent: list, counts: dict[str, int]) -> None:
    for n in not_sent:
        print(f"  NOT SENT to {n.code}: it {n.why}. The admin team has been emailed.")
    print(f"  Email sent now: {counts.get('sent', 0)}" + (
        f"; {counts['deferred']} could not be sent yet and will be retried by the next intake run."
        if counts.get("deferred") else "."))


def _send_unsent(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.intake import send_unsent
    with open_app(args.config).intake_context() as ctx:
        counts = send_unsent(ctx)
    print("Outbox: "
          + (", ".join(f"{v} {k}" for k, v in counts.items()) if counts else "nothing was waiting."))
    return 0


def _reminders(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.reminders import parse_instant
    app = open_app(args.config)
    try:
        moment = parse_instant(args.now, app.config.timezone)
    except ValueError:
        print(f"--now must be a date and time like 2026-12-24T08:00 (not {args.now!r}).", file=sys.stderr)
        return 2
    if args.without_prefect:
        from safeguard.service_layer.reminders import remind
        with app.intake_context() as ctx:
            run, _sent = remind(ctx, app.calendar, moment)  # what the reminders flow's task runs
        today, working, queued = run.today.isoformat(), run.working_day, run.counts()
    else:
        from flows.reminders import reminders
        result = reminders(config_dir=args.config, now=moment.isoformat())
        today, working, queued = str(result["today"]), bool(result["working_day"]), dict(result["queued"])
    if not working:
        print(f"{today} is not a working day in England and Wales: no reminders are sent.")
    else:
        print(f"Reminders for {today}: "
              + (", ".join(f"{k} {v}" for k, v in queued.items()) or "none due") + ".")
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.reconcile import nightly_check
    if not args.without_prefect:
        from flows.reconcile import reconcile
        state = reconcile(config_dir=args.config, return_state=True)
        print("Reconciliation: " + (state.message or "all clear") + ".")
        return 1 if state.is_failed() else 0
    with open_app(args.config).intake_context() as ctx:
        report = nightly_check(ctx).report  # what the reconcile flow's task runs
    for row in report.rows():
        if row["count"]:
            print(f"  {row['check']}: {row['count']} ({row['where']})")
    print(f"Reconciliation: {len(report.findings) or 'no'} discrepancies; the admin team has the digest.")
    return 1 if report.findings else 0


def _calendar(args: argparse.Namespace) -> int:
    from safeguard.adapters.calendar_source import refresh_cache
    from safeguard.adapters.config_files import load_config
    config = load_config(args.config)
    fetched, count = refresh_cache(config.directory)
    if fetched:
        print(f"Bank holidays refreshed from GOV.UK: {count} dates cached in "
              f"{config.directory}/bank-holidays.json.")
        return 0
    print(f"Could not reach GOV.UK; kept the cached list ({count} dates) and the holidays package's own "
          "list. Try again later.", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve_all
    serve_all()
    return 0


def _audit(args: argparse.Namespace) -> int:
    from safeguard.adapters.register.audit import verify_session
    from safeguard.bootstrap import open_app
    if args.action == "export":
        return _audit_export(args)
    with open_app(args.config).uow() as u:
        report = verify_session(u.session)
    if report.ok:
        print(f"Audit log intact: {report.entries} entries, every link verified.")
        return 0
    print(f"Audit log BROKEN at entry {report.broken_at}: {report.reason}. Do not edit the register; "
          "tell your information governance lead and keep a copy of the database as it is.")
    return 1


def _audit_export(args: argparse.Namespace) -> int:
    import getpass

    from safeguard.adapters.returns.alert_history import UnknownAlert, export_alert_history
    from safeguard.bootstrap import open_app, utc_now
    if args.out.suffix.lower() != ".xlsx":
        print(f"The export is a spreadsheet: give a file name ending .xlsx (not {args.out.name}).",
              file=sys.stderr)
        return 2
    app = open_app(args.config)
    with app.uow() as u:
        try:
            out = export_alert_history(u.session, app.config, args.alert.strip().upper(), args.out,
                                       by=args.by or getpass.getuser(), now=utc_now())
        except UnknownAlert:
            print(f"There is no alert {args.alert}. Check the reference (it looks like HSA-2026-000123).",
                  file=sys.stderr)
            return 1
    print(f"Wrote {out}. It contains personal data: store and share it as OFFICIAL-SENSITIVE.")
    return 0


def _config(args: argparse.Namespace) -> int:
    from safeguard.adapters.config_files import load_config
    config = load_config(args.config)
    print(f"Configuration in {config.directory} is valid: {len(config.providers)} providers, "
          f"{len(config.alert_types)} alert types, mailbox adapter '{config.settings.mailbox.adapter}'.")
    for warning in config.warnings():
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def _db(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    open_app(args.config)
    print("The register's schema is up to date.")
    return 0


HANDLERS: dict[str, Handler] = {"demo": _demo, "intake": _intake, "template": _template, "audit": _audit,
                                "config": _config, "db": _db, "approve": _decision, "reject": _decision,
                                "send-unsent": _send_unsent, "reminders": _reminders, "reconcile": _reconcile,
                                "calendar": _calendar, "serve": _serve, "fgm": _fgm, "return": _return,
                                "keys": _keys, "mailbox": _mailbox, "reinstate": _reinstate}


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
