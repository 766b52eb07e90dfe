"""Telling the admin team that a scheduled run failed, or that the mailbox watcher stopped: the flow,
the run's name and a link only."""

from __future__ import annotations

from safeguard.adapters.notify.outbox import queue_email
from safeguard.adapters.notify.render import render_email
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.replies import sender_of
from safeguard.service_layer.sending import send_unsent


def run_link(ctx: IntakeContext, run_id: str) -> str:
    return f"{ctx.config.settings.service.prefect_ui_url.rstrip('/')}/runs/flow-run/{run_id}"


def report_failed_run(ctx: IntakeContext, flow_name: str, run_name: str, run_id: str) -> None:
    """No error text: an exception message could carry data that must not travel by email."""
    service = ctx.config.settings.service
    link = run_link(ctx, run_id)
    with ctx.uow() as u:
        queue_email(u.register, key=f"flow-failed:{run_id}", kind="admin:flow-failed",
                    rendered=render_email("flow_failed", service=service, flow_name=flow_name,
                                          run_name=run_name, link=link),
                    sender=sender_of(ctx.config), recipients=[service.admin_team], at=ctx.clock())
        u.register.audit(actor="system", action="flow run failed", at=ctx.clock(), flow=flow_name,
                         run=run_name, run_id=run_id)
        u.commit()
    send_unsent(ctx)


def report_watcher_stopped(ctx: IntakeContext, stopped: str, replaced_by: str, stale_seconds: int) -> None:
    """The mailbox watcher stopped without handing over and another run took over: run ids and a
    link only. Mail was not watched for a while, but none is lost."""
    service = ctx.config.settings.service
    link = run_link(ctx, stopped)
    with ctx.uow() as u:
        queue_email(u.register, key=f"watcher-stopped:{stopped}", kind="admin:watcher-stopped",
                    rendered=render_email("watcher_stopped", service=service, link=link,
                                          stale_seconds=stale_seconds),
                    sender=sender_of(ctx.config), recipients=[service.admin_team], at=ctx.clock())
        u.register.audit(actor="system", action="mailbox watcher restarted", at=ctx.clock(),
                         stopped_run=stopped, new_run=replaced_by)
        u.commit()
    send_unsent(ctx)
