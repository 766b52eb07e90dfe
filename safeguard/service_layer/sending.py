"""Sending what the outbox holds, and telling the admin team at once about an email the mail server
refused for good. Used by every job that queues email: intake, dispatch, reminders, reconcile, returns."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from safeguard.adapters.mail.port import MailboxError
from safeguard.adapters.notify.outbox import ClaimLease, SendResult, send_entries

if TYPE_CHECKING:
    from safeguard.service_layer.intake import IntakeContext

log = logging.getLogger(__name__)


def send_unsent(ctx: IntakeContext, alert_id: int | None = None) -> dict[str, int]:
    """Send what the outbox holds unsent (for one alert, or all), SEND_BATCH at a time, until the
    queue is drained: a backlog of thousands goes in one run, a page of ids at a time. It stops early
    when the mail server is unwell (temporary failures stay queued for the next run)."""
    counts: dict[str, int] = {}
    after = 0
    while True:
        with ctx.uow() as u:
            ids = (u.register.unsent_ids_for_alert(alert_id, after) if alert_id
                   else u.register.unsent_ids(after, UNSENT_PAGE))
        if not ids:
            return counts
        page = _send_ids(ctx, ids)
        for status, n in page.items():
            counts[status] = counts.get(status, 0) + n
        if SendResult.DEFERRED in page or alert_id:
            return counts
        after = ids[-1]  # entries still queued after this page (another process's) wait for the next run


def _send_ids(ctx: IntakeContext, ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    while ids:
        batch, ids = ids[:SEND_BATCH], ids[SEND_BATCH:]
        try:
            statuses = send_entries(batch, mailbox=ctx.mailbox, uow=ctx.uow, now=ctx.clock,
                                    lease=ClaimLease.of(ctx.config.settings.failover))
        except MailboxError:  # e.g. Sent could not be searched: all of them wait for the next run
            statuses = dict.fromkeys(batch, SendResult.DEFERRED)
        for entry_id, status in statuses.items():
            counts[status] = counts.get(status, 0) + 1
            if status == SendResult.FAILED:
                ids += tell_admin_undeliverable(ctx, entry_id)
        # the mail server is unwell: the rest wait for the next run
        if SendResult.DEFERRED in statuses.values():
            counts[SendResult.DEFERRED] = counts.get(SendResult.DEFERRED, 0) + len(ids)
            break
    return counts


SEND_BATCH = 50
UNSENT_PAGE = 500


def tell_admin_undeliverable(ctx: IntakeContext, entry_id: int) -> list[int]:
    """An email about an alert that the mail server refused for good (a provider's address that no
    longer exists, say): the admin team must phone that provider today (see notices.undelivered,
    which a bounce received later also uses). Returns the new entry's id."""
    from safeguard.adapters.register.orm import OutboxEntry
    from safeguard.service_layer.notices import undelivered

    with ctx.uow() as u:
        entry = u.session.get(OutboxEntry, entry_id)
        if entry is None:
            return []
        key = undelivered(u.register, ctx.config, entry,
                          f"refused for good: {entry.last_error or 'no reason given'}", at=ctx.clock())
        if key is None:
            return []  # not about an alert, or itself to the admin team: the nightly digest lists it
        u.commit()
        return [e.id for e in u.register.unsent_for_alert(entry.alert_id or 0) if e.key == key]


def tell_admin_about_refusals(entry_ids: list[int], ctx: IntakeContext) -> None:
    """Replies refused for good: the admin team is told at once (and, if that fails now, by the
    nightly reconciliation's digest, which lists every failed email)."""
    for entry_id in entry_ids:
        try:
            _send_ids(ctx, tell_admin_undeliverable(ctx, entry_id))
        except (DBAPIError, MailboxError):
            log.warning("could not tell the admin team about an undeliverable email now; "
                        "the nightly digest will")
