"""Giving the safeguarding team's decision on a WITHDRAW in tests, as the decision run would."""

from __future__ import annotations

from safeguard.service_layer.dispatch import send_alert_email
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.withdrawal import WithdrawalAnswer, WithdrawalOutcome
from safeguard.service_layer.withdrawal_dispatch import give_withdrawal_decision

APPROVER = "Dana Nightingale"


def approve_withdrawal(ctx: IntakeContext, reference: str, by: str = APPROVER) -> WithdrawalOutcome:
    outcome = give_withdrawal_decision(ctx, reference, WithdrawalAnswer(True, by))
    send_alert_email(ctx, reference)
    return outcome


def decline_withdrawal(ctx: IntakeContext, reference: str, reason: str,
                       by: str = APPROVER) -> WithdrawalOutcome:
    outcome = give_withdrawal_decision(ctx, reference, WithdrawalAnswer(False, by, reason))
    send_alert_email(ctx, reference)
    return outcome
