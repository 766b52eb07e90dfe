"""Looking after the site: keys, FGM files and returns, the form template, the calendar, the audit log,
the configuration and the database schema."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeguard.bootstrap import App


def keys_command(args: argparse.Namespace) -> int:
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


def fgm_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app, utc_now
    from safeguard.service_layer.fgm_intake import import_drop_folder, import_file
    app = open_app(args.config)
    if args.action == "restore":
        return _fgm_restore(app, args)
    if args.action == "import-folder":
        counts = import_drop_folder(app.uow, app.config, utc_now())
        with app.intake_context() as ctx:
            from safeguard.service_layer.sending import send_unsent
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


def _fgm_restore(app: App, args: argparse.Namespace) -> int:
    from safeguard.bootstrap import utc_now
    from safeguard.service_layer.fgm_replacement import CannotRestore, restore_submission
    with app.uow() as u:
        try:
            sub = restore_submission(u.register, args.submission, args.by or getpass.getuser(), utc_now())
        except CannotRestore as exc:
            print(str(exc), file=sys.stderr)
            return 1
        u.commit()
        print(f"Restored FGM submission {sub.id} ({sub.provider_code} {sub.month}, {sub.rows_valid} "
              "record(s)); the file that replaced it is now marked replaced. Produce the month's return "
              "again.")
    return 0


def return_command(args: argparse.Namespace) -> int:
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


def template_command(args: argparse.Namespace) -> int:
    if args.which == "fgm":
        from safeguard.adapters.config_files import load_config
        from safeguard.adapters.workbooks.fgm_template import build_fgm_template
        print(f"Wrote {build_fgm_template(load_config(args.config).fgm, args.out)}")
        return 0
    from safeguard.adapters.workbooks.form_template import build_form_template
    print(f"Wrote {build_form_template(args.out)}")
    return 0


def calendar_command(args: argparse.Namespace) -> int:
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


def audit_command(args: argparse.Namespace) -> int:
    from safeguard.adapters.register.audit_check import checkpoint, verify_full, verify_incremental
    from safeguard.bootstrap import open_app, utc_now
    if args.action == "export":
        return _audit_export(args)
    with open_app(args.config).uow() as u:
        report = (verify_full if args.full else verify_incremental)(u.session)
        checkpoint(u.session, report, utc_now())
        u.commit()
    if not report.ok:
        print(f"Audit log BROKEN at entry {report.broken_at}: {report.reason}. Do not edit the register; "
              "tell your information governance lead and keep a copy of the database as it is.")
        return 1
    if report.head == 0:
        print("Audit log intact: it holds no entries yet.")
        return 0
    since = "every entry" if report.from_seq == 1 else f"entries {report.from_seq} on (the last checkpoint " \
        "covers those before; --full checks them all again)"
    print(f"Audit log intact: {report.entries} entries verified, {since}; the log holds {report.head}.")
    if report.erased:
        more = " ..." if report.erased_count > len(report.erased) else ""
        shown = ", ".join(map(str, report.erased)) + more
        print(f"Details erased (retention or erasure on request), commitments kept: {report.erased_count} "
              f"entries ({shown}).")
    return 0


def _audit_export(args: argparse.Namespace) -> int:

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


def config_command(args: argparse.Namespace) -> int:
    from safeguard.adapters.config_files import load_config
    config = load_config(args.config)
    print(f"Configuration in {config.directory} is valid: {len(config.providers)} providers, "
          f"{len(config.alert_types)} alert types, mailbox adapter '{config.settings.mailbox.adapter}'.")
    for warning in config.warnings():
        print(f"WARNING: {warning}", file=sys.stderr)
    from cli.prefect_check import configured_api, prefect_api_warnings
    api_url, auth_string = configured_api()
    if api_url is None:
        print("No Prefect API is configured (PREFECT_API_URL): flows started here run on a temporary local "
              "Prefect server.")
        return 0
    found = prefect_api_warnings(api_url, auth_string)
    for warning in found:
        print(f"WARNING: {warning}", file=sys.stderr)
    if not found:
        print(f"The Prefect API at {api_url} turns away requests without credentials, and its CSRF "
              "protection is on.")
    return 0


def prefect_command(args: argparse.Namespace) -> int:
    from cli.prefect_check import configured_api
    if configured_api()[0] is None:
        print("No Prefect API is configured: set PREFECT_API_URL to the site's Prefect server, then run this "
              "again.", file=sys.stderr)
        return 2
    from cli.prefect_setup import set_up
    print(set_up())
    return 0


def db_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    open_app(args.config)
    print("The register's schema is up to date.")
    return 0
