"""reconcile: every night, check that mailbox, outbox and register agree; report to the admin team.

Any discrepancy ends the run in a failed state named "Needs attention", so the Prefect UI shows it
red; the table is on the Artifacts page under the key "reconciliation".
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.states import Failed

from flows.hooks import NEEDS_ATTENTION, tell_admin_on_failure
from tasks.reminders import erase_and_reconcile


@flow(name="reconcile", on_failure=[tell_admin_on_failure], log_prints=False)
def reconcile(config_dir: str | None = None):  # a result, or a Failed state
    report = erase_and_reconcile(config_dir)
    total = report.total
    create_table_artifact(key="reconciliation", table=report.rows,
                          description=f"Nightly reconciliation: {total or 'no'} discrepancies (counts and "
                                      "references only). The admin team has the same table by email.")
    if total:
        return Failed(name=NEEDS_ATTENTION, message=f"{total} discrepancies: see the 'reconciliation' "
                      "artifact and the digest email")
    return {"discrepancies": 0}
