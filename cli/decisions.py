"""Decisions given on the command line instead of in the Prefect UI: approving or rejecting an alert,
deciding a withdrawal, reinstating a withdrawn alert."""

from __future__ import annotations

import argparse
import sys


def decision_command(args: argparse.Namespace) -> int:
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
    if not outcome.final:
        print(f"{reference} version {outcome.version}: the {outcome.stage} stage is approved by "
              f"{args.by.strip()}; it now needs its {outcome.next_stage} approval. Nothing has been sent "
              "yet.")
        return 0
    print(f"{reference} version {outcome.version} {outcome.decision} by {' '.join(args.by.split())}.")
    for kind, codes in outcome.notices.items():
        print(f"  {words.get(kind, kind)}: {', '.join(codes)}")
    for n in outcome.not_sent:
        print(f"  NOT SENT to {n.code}: it {n.why}. The admin team has been emailed.")
    print(f"  Email sent now: {counts.get('sent', 0)}" + (
        f"; {counts['deferred']} could not be sent yet and will be retried by the next intake run."
        if counts.get("deferred") else "."))
    if outcome.approval_run_id and outcome.final:
        from tasks.approval import end_waiting_run
        ended = end_waiting_run(outcome.approval_run_id, f"{outcome.decision} on the command line")
        print(f"  Prefect: {ended}.")
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
        from tasks.approval import end_waiting_run
        ended = end_waiting_run(outcome.approval_run_id, f"{outcome.decision} on the command line")
        print(f"  Prefect: {ended}.")
    return 0


def reinstate_command(args: argparse.Namespace) -> int:
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
