"""The scheduled jobs run by hand: intake, sending what is unsent, reminders, reconciliation, serving
the deployments, the demo, and checking the mailbox."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def demo_command(args: argparse.Namespace) -> int:
    from cli.demo import run_demo
    return run_demo(Path(args.dir), args.config)


def intake_command(args: argparse.Namespace) -> int:
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


def send_unsent_command(args: argparse.Namespace) -> int:
    from safeguard.bootstrap import open_app
    from safeguard.service_layer.sending import send_unsent
    with open_app(args.config).intake_context() as ctx:
        counts = send_unsent(ctx)
    print("Outbox: "
          + (", ".join(f"{v} {k}" for k, v in counts.items()) if counts else "nothing was waiting."))
    return 0


def reminders_command(args: argparse.Namespace) -> int:
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


def reconcile_command(args: argparse.Namespace) -> int:
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


def serve_command(args: argparse.Namespace) -> int:
    from flows.serve import serve_all
    serve_all()
    return 0


def mailbox_command(args: argparse.Namespace) -> int:
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
