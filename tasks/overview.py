"""The alerts-overview artifact: the admin team's dashboard in the Prefect UI (references and counts)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from safeguard.bootstrap import open_app, utc_now
from safeguard.service_layer.overview import alerts_overview, overview_markdown

OVERVIEW_KEY = "alerts-overview"


@task(cache_policy=NO_CACHE)
def publish_alerts_overview(config_dir: str | None) -> int:
    """Refresh the dashboard; returns how many versions wait for approval."""
    app = open_app(config_dir)
    overview = alerts_overview(app.uow, app.config, utc_now())
    create_markdown_artifact(key=OVERVIEW_KEY, markdown=overview_markdown(overview, app.config),
                             description="The alerts as a whole: what waits, what is active, what is overdue "
                                         "(references and counts only)")
    return len(overview.waiting)
