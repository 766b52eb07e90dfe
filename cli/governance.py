"""Information governance commands: subject access export and erasure on request."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date


def sar_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app, utc_now
    from safeguard.domain.subject_query import SubjectQuery
    from safeguard.service_layer.subject_access import export_subject_access
    try:
        query = SubjectQuery(args.nhs_number, args.name, date.fromisoformat(args.dob) if args.dob else None)
    except ValueError:
        print("Give the person's NHS number (--nhs-number N), or their name and date of birth "
              "(--name 'Forenames Surname' --dob YYYY-MM-DD).", file=sys.stderr)
        return 2
    app, now = open_app(args.config), utc_now()
    out = args.out or app.config.settings.exports.folder / f"subject-access-{now:%Y%m%d-%H%M%S}.xlsx"
    if out.suffix.lower() != ".xlsx":
        print(f"The export is a spreadsheet: give a file name ending .xlsx (not {out.name}).",
              file=sys.stderr)
        return 2
    with app.uow() as u:
        found = export_subject_access(u.register, app.config, query, out, by=args.by or getpass.getuser(),
                                      redact_staff=args.redact_staff, now=now)
        u.commit()
    print(f"Wrote {out}: {len(found.alerts)} alert(s) and {len(found.fgm)} FGM record(s) about this person, "
          "other people redacted. It contains personal data: check it, and release it as OFFICIAL-SENSITIVE.")
    return 0


def erase_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app, utc_now
    from safeguard.service_layer.erasure import StillHeld, erase_on_request
    app = open_app(args.config)
    with app.uow() as u:
        try:
            counts = erase_on_request(u.register, args.alert.strip().upper(), args.authorised_by.strip(),
                                      args.reason.strip(), utc_now())
        except StillHeld as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if counts is None:
            print(f"There is no alert {args.alert}. Check the reference (it looks like HSA-2026-000123).",
                  file=sys.stderr)
            return 1
        u.commit()
    print(f"Erased the personal data of {args.alert.strip().upper()}: "
          + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
          + ". Its reference, dates, statuses and the audit chain stay; the erasure is in the audit log.")
    return 0
