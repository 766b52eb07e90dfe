"""`safeguard demo`: sample submissions into a fresh Maildir, intake through Prefect, a table of what
happened."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from safeguard.adapters.mail.maildir import MaildirMailbox, deliver
from safeguard.adapters.mail.port import Folder
from safeguard.bootstrap import utc_now
from testkit import samples

SOCIAL_WORKER = "tamsin.holloway@coventry-council.test"


def _submissions(inbox_address: str) -> list[tuple[str, bytes]]:
    today = date.today()
    fields, people = samples.form_fields(today), samples.subjects(today)
    text_fields = samples.form_fields(today, **{"Urgency": "Routine", "Providers to alert": "GEH"})
    bad_fields = samples.form_fields(today, **{"Review date": "12/31/2026",
                                                 "Providers to alert": "UHCW, XYZ1",
                                                 "Social worker phone": "12345"})
    valid_xlsx = samples.submission(SOCIAL_WORKER, inbox_address, subject="Health alert form: missing child",
                                    attachments=[("health_alert_form.xlsx",
                                                  samples.xlsx_form(fields, people))])
    return [
        ("valid form (xlsx attachment)", valid_xlsx),
        ("valid form (typed in the email body)", samples.submission(
            SOCIAL_WORKER, inbox_address, subject="Health alert",
            body=samples.text_form(text_fields, people))),
        ("invalid form (3 problems)", samples.submission(
            SOCIAL_WORKER, inbox_address, subject="Health alert form",
            attachments=[("form.xlsx", samples.xlsx_form(bad_fields, people))])),
        ("unauthorised sender", samples.submission(
            "someone@freemail.test", inbox_address, subject="alert", body=samples.text_form(fields, people))),
        ("duplicate delivery of the first", valid_xlsx),
    ]


def run_demo(folder: Path, config_dir: str | None) -> int:
    started = time.monotonic()
    folder = folder.resolve()
    shutil.rmtree(folder, ignore_errors=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's temporary server gets 20 s to start by default; its first start on a fresh, busy
    # 2-core machine (creating its database) can take longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    from safeguard.adapters.register.crypto import AUDIT_KEY, DATA_KEYS, HASH_KEY, new_key
    if not os.environ.get(DATA_KEYS):  # the demo's register is thrown away: a throwaway key will do
        os.environ[DATA_KEYS], os.environ[HASH_KEY] = new_key(), new_key()
        print("Demo: personal data in the register is encrypted with a throwaway key "
              "(set SAFEGUARD_DATA_KEYS and SAFEGUARD_HASH_KEY for a real register).")
    if not os.environ.get(AUDIT_KEY):  # likewise the audit chain's own key
        os.environ[AUDIT_KEY] = new_key()
        print("Demo: the audit log is chained with a throwaway audit key (set SAFEGUARD_AUDIT_KEY for a real "
              "register).")
    os.environ.update(SAFEGUARD_MAILDIR=str(folder / "mail" / "safeguarding"),
                      SAFEGUARD_DELIVER_TO=str(folder / "mail" / "delivered"),
                      SAFEGUARD_DATABASE_URL=f"sqlite:///{folder / 'register.sqlite3'}")
    from safeguard.bootstrap import open_app
    app = open_app(config_dir)
    box = MaildirMailbox(Path(os.environ["SAFEGUARD_MAILDIR"]), app.config.settings.service.mailbox_address)
    labels = {}
    for label, raw in _submissions(box.address):
        labels[deliver(box.root, raw).name] = label
        time.sleep(0.01)  # distinct arrival times, so the table reads in order
    print(f"Demo mailbox: {box.root}\n{len(labels)} sample submissions delivered to INBOX. "
          "Running the intake flow through Prefect (a local server starts on first use)...\n")
    from flows.intake import intake
    summary = intake(config_dir=config_dir)
    _print_table(box, labels, folder / "mail" / "delivered")
    print("\nTotals: " + ", ".join(f"{k} {v}" for k, v in summary.items() if v))
    _lifecycle(app, box, folder, config_dir)
    print(f"\nRegister (SQLite): {folder / 'register.sqlite3'}   Audit check: safeguard audit verify")
    print(f"Finished in {time.monotonic() - started:.0f} s.")
    return 0


def _lifecycle(app, box: MaildirMailbox, folder: Path, config_dir: str | None) -> None:  # an App
    """The rest of the path for the first alert: approve, notices, acknowledge, withdraw, export."""
    from safeguard.adapters.register.orm import Alert, Delivery
    from safeguard.adapters.returns.alert_history import export_alert_history
    from safeguard.service_layer.approval import ApprovalRequest
    from safeguard.service_layer.dispatch import give_decision, send_alert_email

    with app.uow() as u:
        ref = u.session.query(Alert.reference).order_by(Alert.id).first()[0]
    approver = "Dana Nightingale"
    print(f"\nThe lifecycle of {ref}, step by step:")
    print(f"1. Approval. Deployed (prefect.yaml), a '{ref}' run of alert-approval waits in the Prefect UI "
          f"for a decision;\n   here it is given on the command line: "
          f"safeguard approve {ref} --by \"{approver}\"")
    with app.intake_context() as ctx:
        outcome = give_decision(ctx, ref, None, ApprovalRequest(True, approver))
        send_alert_email(ctx, ref)
    delivered = folder / "mail" / "delivered"
    providers = {p.code: p.mailbox for p in app.config.providers}
    for kind, codes in outcome.notices.items():
        for code in codes:
            print(f"   {kind} notice -> {providers[code]}: "
                  f"{len(list((delivered / providers[code] / 'new').iterdir()))}"
                  " message in its mailbox")
    others = [c for c in providers if c not in sum(outcome.notices.values(), [])]
    print(f"   Nothing went to the providers not on the form: {', '.join(others)}")
    first = providers[outcome.notices["alert"][0]]
    deliver(box.root, samples.submission(first, box.address, subject=f"RE: {ref}: health alert received",
                                         body="Flag added to our records.\n"))
    deliver(box.root, samples.submission(SOCIAL_WORKER, box.address, subject=f"WITHDRAW {ref}",
                                         body="Reason: Found\nThe child is home and safe.\n"))
    print(f"2. {first} replies quoting {ref} (acknowledgement); the social worker emails 'WITHDRAW {ref}'.")
    from flows.intake import intake
    intake(config_dir=config_dir)
    print(f"   The social worker is told the request has reached the safeguarding team. "
          f"Deployed, a '{ref} withdrawal' run waits in the Prefect UI\n   for the decision; "
          f"here it is given on the command line: "
          f"safeguard approve {ref} --withdrawal --by \"{approver}\"")
    from safeguard.service_layer.withdrawal import WithdrawalAnswer
    from safeguard.service_layer.withdrawal_dispatch import give_withdrawal_decision
    with app.intake_context() as ctx:
        give_withdrawal_decision(ctx, ref, WithdrawalAnswer(True, approver))
        send_alert_email(ctx, ref)
    with app.uow() as u:
        for d in u.session.query(Delivery).join(Alert).filter(Alert.reference == ref).order_by(Delivery.id):
            held = len(list((delivered / d.mailbox / "new").iterdir()))
            print(f"   {d.provider_code}: {d.status}, acknowledged: {'yes' if d.acknowledged_at else 'no'}; "
                  f"{held} messages in its mailbox (the alert, then its withdrawal)")
    out = folder / f"{ref}-history.xlsx"
    with app.uow() as u:
        export_alert_history(u.session, app.config, ref, out, by="demo", now=utc_now())
    print(f"3. The whole history for a case review: safeguard audit export --alert {ref} {out}")


def _print_table(box: MaildirMailbox, labels: dict[str, str], delivered: Path) -> None:
    where = {p.name.split(":")[0]: str(f) for f in (Folder.PROCESSED, Folder.REJECTED, Folder.QUARANTINE)
             for p in box.list_folder(f)}
    print(f"{'submission':<40} {'filed in':<11} reply")
    print("-" * 110)
    replies, seen = _replies_by_thread(box), set()
    for name, label in labels.items():
        reply = replies.get(name, "(no reply: admin team told)")
        shown = "(same message: no second reply)" if reply in seen and name in replies else reply
        seen.add(reply)
        print(f"{label:<40} {where.get(name, 'INBOX'):<11} {shown}")
    print(f"\nWhat each person received is under {delivered}/<address>/new/")
    for person in sorted(p.name for p in delivered.iterdir()) if delivered.exists() else []:
        print(f"  {person}: {len(list((delivered / person / 'new').iterdir()))} message(s)")


def _replies_by_thread(box: MaildirMailbox) -> dict[str, str]:
    """Map each inbound file to the subject of our reply to it, through Message-ID / In-Reply-To."""
    by_message_id: dict[str, list[str]] = {}
    for f in (Folder.PROCESSED, Folder.REJECTED, Folder.QUARANTINE):
        for p in box.list_folder(f):
            mid = message_from_bytes(p.read_bytes()).get("Message-ID", "")
            by_message_id.setdefault(mid, []).append(p.name.split(":")[0])
    out: dict[str, str] = {}
    for p in box.list_folder(Folder.SENT):
        msg = message_from_bytes(p.read_bytes())
        subject = str(make_header(decode_header(msg.get("Subject", ""))))
        for name in by_message_id.get(msg.get("In-Reply-To", ""), []):
            out[name] = subject
    return out
