"""`safeguard serve`: every deployment of prefect.yaml, with its schedule, served from one process
(for a small site that does not want a work pool and worker). prefect.yaml stays the one source."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def served_deployments(prefect_yaml: Path = ROOT / "prefect.yaml") -> list[Any]:
    from prefect.client.schemas.schedules import CronSchedule

    spec = yaml.safe_load(prefect_yaml.read_text())
    deployments = []
    for d in spec["deployments"]:
        module, _, name = d["entrypoint"].partition(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        schedules = [CronSchedule(cron=s["cron"], timezone=s["timezone"]) for s in d.get("schedules", [])]
        deployments.append(flow.to_deployment(name=d["name"], description=d.get("description"),
                                              parameters=d.get("parameters") or {},
                                              schedules=schedules or None,
                                              concurrency_limit=d.get("concurrency_limit")))
    return deployments


QUERY_SECONDS = 1  # how often the runner looks for runs to start: an answered approval form starts at once
# At most this many runs at once, each a process (~136 MB); others wait their turn. Without it, 200
# approval runs started by one intake pass would start 200 processes together.
PROCESS_LIMIT = 8


def serve_all() -> None:
    from prefect import serve
    serve(*served_deployments(), query_seconds=QUERY_SECONDS, limit=PROCESS_LIMIT)
