"""A site as IT runs it, in processes: `prefect server start` (API and UI) and `safeguard serve`
running the deployments of prefect.yaml against it. For the browser test and the latency benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_for(what: str, check: Callable[[], Any], seconds: float, logs: list[Path] = (),
             pause: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(pause)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


class Site:
    def __init__(self, home: Path, config_dir: Path, secrets: dict[str, str]) -> None:
        self.home, self.logs = home, [home / "prefect-server.log", home / "serve.log"]
        self.api = f"http://127.0.0.1:{free_port()}/api"
        self.ui = self.api.removesuffix("/api")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAFEGUARD_"))}
        self.env = {**env, "PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
                    # the server's SQLite waits up to 30 s for a lock (Prefect's own test mode does the
                    # same); at 10 s a form's answer at the minute, beside the scheduled runs, could be
                    # refused with "database is locked" on a loaded 2-core machine
                    "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
                    "SAFEGUARD_CONFIG": str(config_dir),
                    **secrets}
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def database(self) -> str:
        return f"sqlite:///{self.home / 'prefect' / 'prefect.db'}"

    def start_server(self) -> None:
        port = self.api.rsplit(":", 1)[1].split("/")[0]
        self.processes.append(start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                     "--port", port],
                                    # else the UI calls port 4200
                                    {**self.env, "PREFECT_UI_API_URL": self.api},
                                    self.logs[0]))
        wait_for("the Prefect server", lambda: httpx.get(f"{self.api}/health").status_code == 200, 120,
                 self.logs)
        self.env["PREFECT_API_URL"] = self.api

    def start_serve(self) -> None:
        self.processes.append(start([str(BIN / "safeguard"), "serve"], self.env, self.logs[1]))
        wait_for("safeguard serve's deployments", lambda: httpx.get(
            f"{self.api}/deployments/name/alert-approval/approval").status_code == 200, 120, self.logs)

    def safeguard(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "safeguard"), *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def runs(self, name: str | None = None, state: str | None = None,
             flow: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"sort": "START_TIME_ASC"}
        if name:
            body["flow_runs"] = {"name": {"any_": [name]}}
        if flow:
            body["flows"] = {"name": {"any_": [flow]}}
        runs = httpx.post(f"{self.api}/flow_runs/filter", json=body).json()
        return [r for r in runs if state is None or (r["state"] and r["state"]["type"] == state)]

    def runs_by_id(self, run_id: str) -> dict[str, Any] | None:
        """The run's state (type, name, message), or None if the API does not know it."""
        answer = httpx.get(f"{self.api}/flow_runs/{run_id}")
        return answer.json().get("state") if answer.status_code == 200 else None

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        self.processes.clear()


@contextmanager
def running_site(home: Path, config_dir: Path, secrets: dict[str, str]) -> Iterator[Site]:
    site = Site(home, config_dir, secrets)
    try:
        site.start_server()
        site.start_serve()
        yield site
    finally:
        site.stop()
