"""The `safeguard` command. Errors are plain English with what to do next; never a stack trace."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from safeguard.config import ConfigError

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
    template.add_argument("which", choices=["form"])
    template.add_argument("out", type=Path)
    audit = sub.add_parser("audit", help="check the audit log")
    audit.add_argument("action", choices=["verify"])
    sub.add_parser("config", help="check the configuration").add_argument("action", choices=["check"])
    sub.add_parser("db", help="database schema").add_argument("action", choices=["upgrade"])
    return parser


def _demo(args: argparse.Namespace) -> int:
    from safeguard.demo import run_demo
    return run_demo(Path(args.dir), args.config)


def _intake(args: argparse.Namespace) -> int:
    from safeguard.app import open_app
    app = open_app(args.config)
    if not args.once:
        print("Use 'safeguard intake --once' for one poll; scheduled polling runs from the deployment "
              "(prefect.yaml, every minute).")
        return 2
    batch = args.batch_size or app.config.settings.limits.batch_size
    if args.without_prefect:
        summary = _intake_direct(app, batch)
    else:
        from flows.intake import intake
        summary = intake(config_dir=args.config, batch_size=batch)
    print("Intake finished: " + ", ".join(f"{k} {v}" for k, v in summary.items() if v) if any(summary.values())
          else "Intake finished: the mailbox had no new messages.")
    return 0


def _intake_direct(app, batch: int) -> dict[str, int]:  # noqa: ANN001 - an App
    from collections import Counter

    from safeguard.service.intake import process_batch, send_unsent
    with app.intake_context() as ctx:
        results = process_batch(ctx.mailbox.list_new(batch), ctx)
        send_unsent(ctx)
    return dict(Counter(r.outcome for r in results))


def _template(args: argparse.Namespace) -> int:
    from safeguard.forms.template import build_form_template
    print(f"Wrote {build_form_template(args.out)}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from safeguard.app import open_app
    from safeguard.register.audit import verify_session
    with open_app(args.config).uow() as u:
        report = verify_session(u.session)
    if report.ok:
        print(f"Audit log intact: {report.entries} entries, every link verified.")
        return 0
    print(f"Audit log BROKEN at entry {report.broken_at}: {report.reason}. Do not edit the register; "
          "tell your information governance lead and keep a copy of the database as it is.")
    return 1


def _config(args: argparse.Namespace) -> int:
    from safeguard.config import load_config
    config = load_config(args.config)
    print(f"Configuration in {config.directory} is valid: {len(config.providers)} providers, "
          f"{len(config.alert_types)} alert types, mailbox adapter '{config.settings.mailbox.adapter}'.")
    return 0


def _db(args: argparse.Namespace) -> int:
    from safeguard.app import open_app
    open_app(args.config)
    print("The register's schema is up to date.")
    return 0


HANDLERS: dict[str, Handler] = {"demo": _demo, "intake": _intake, "template": _template, "audit": _audit,
                                "config": _config, "db": _db}


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
    except Exception as exc:  # noqa: BLE001 - users get a sentence, not a traceback
        logging.getLogger("safeguard").debug("unexpected error", exc_info=True)
        print(f"Something went wrong ({type(exc).__name__}). Nothing was lost: unprocessed mail stays in the "
              "inbox. Run again with SAFEGUARD_LOG_LEVEL=DEBUG for details, or contact IT.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
