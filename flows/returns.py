"""returns: on the 1st of each month, the FGM returns and the alert activity return for the month
before, written to the returns folder and emailed (the record-level file only to allowed addresses)."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.hooks import tell_admin_on_failure
from safeguard.service_layer.wording import counted, markdown_table
from tasks.returns import build_returns, month_to_report


@flow(name="returns", on_failure=[tell_admin_on_failure], log_prints=False)
def monthly_returns(config_dir: str | None = None, month: str | None = None) -> dict[str, object]:
    """`month` as YYYY-MM; empty means the month before today."""
    chosen = month_to_report(config_dir, month)
    built = build_returns(config_dir, chosen)
    fgm, activity = built.fgm, built.activity
    files = "\n".join(f"- {kind}: [{path}](file://{path})" for kind, path in built.files.items())
    create_markdown_artifact(
        key="monthly-returns", description=f"Returns for {chosen}",
        markdown=f"## Returns for {chosen}\n\n**FGM** (rounded to the nearest 5, 1 to 7 shown as 5)\n\n"
                 f"{markdown_table(['measure', 'number'], fgm.items())}\n\n**Health alerts**\n\n"
                 f"{markdown_table(['measure', 'number'], activity.items())}\n\n**Files** (on the worker):\n"
                 f"{files}\n\nEmail sent: {counted(built.sent)}.")
    return {"month": chosen, "fgm": fgm, "activity": activity}
