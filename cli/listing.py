"""`safeguard alerts`: the alerts as a table on the terminal, names only with --show-names (audited)."""

from __future__ import annotations

import argparse
import getpass
import sys


def alerts_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app, utc_now
    from safeguard.service_layer.alert_list import UnknownState, list_alerts, parse_state
    from safeguard.service_layer.wording import age, spoken
    try:
        state = parse_state(args.state)
    except UnknownState as exc:
        print(str(exc), file=sys.stderr)
        return 2
    app, now = open_app(args.config), utc_now()
    who = (args.by or getpass.getuser()) if args.show_names else None
    rows = list_alerts(app.uow, state=state, provider=args.provider, show_names_for=who, now=now)
    header = ["reference", "state", "type", "providers", "age", "review date"]
    table = [[r.reference, spoken(r.state), r.alert_type, ", ".join(r.providers) or "-",
              age(now - r.created_at), f"{r.review_date:%d %b %Y}", *([r.names] if who else [])]
             for r in rows]
    _print_table([*header, *(["names"] if who else [])], table)
    print(f"{len(rows)} alert{'s' if len(rows) != 1 else ''}"
          + (f" in state {spoken(state)}" if state else "") + (f" held by {args.provider.upper()}"
                                                              if args.provider else "") + ".")
    if who:
        print(f"This listing shows names: it is recorded in the audit log as seen by {who}. "
              "Treat it as OFFICIAL-SENSITIVE.", file=sys.stderr)
    return 0


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip())
