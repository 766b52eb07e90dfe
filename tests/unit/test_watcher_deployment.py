"""prefect.yaml and `safeguard serve` run intake as the mailbox watcher (service_layer/watching.py)."""

from __future__ import annotations

import yaml

from safeguard.domain.config.models import FailoverSettings, MailboxSettings
from safeguard.service_layer.watching import LOOK_SECONDS
from tests.conftest import ROOT


def test_intake_is_started_every_minute_as_a_watcher_that_may_overlap_the_next_run() -> None:
    [intake] = [d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
                if d["name"] == "intake"]
    assert intake["schedules"][0]["cron"] == "* * * * *"
    assert intake["parameters"]["watch_seconds"] >= 60  # it watches until the next run takes over
    assert intake["concurrency_limit"] == 2  # the watcher and the run taking over from it


def test_safeguard_serve_serves_the_same_watcher() -> None:
    from flows.serve import served_deployments
    [intake] = [d for d in served_deployments() if d.name == "intake"]
    assert intake.parameters == {"watch_seconds": 3600} and intake.concurrency_limit == 2


def test_the_mailbox_is_looked_at_every_2_seconds_and_a_hand_over_is_quicker_than_a_death() -> None:
    assert MailboxSettings().poll_seconds == 2
    failover = FailoverSettings()
    # a hand-over within seconds; a holder is dead once silent for a lease, many heartbeats long
    assert LOOK_SECONDS <= failover.heartbeat_seconds < failover.lease_seconds / 3 <= 60
