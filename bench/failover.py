"""A sending host dies: how long until its unfinished sends complete on another host.

    .venv/bin/python bench/failover.py [--rounds 5] [--entries 20] [--database-url URL] [--container]

Each round queues `entries` emails in a fresh PostgreSQL register. A sender on a simulated other
host (testkit/claim_holder.py, claiming as "host-b") claims them all, as a worker caught mid-batch
has, its heartbeat renewing the claims; it is then killed (SIGKILL). This process, the surviving
host, runs the outbox sweep every --sweep seconds, as a worker's intake watcher does, with the
failover settings' defaults (heartbeat 5 s, lease 30 s). With --container the dying sender is a
container of the image (scripts/container-image.sh) with its own host name, killed with
`podman kill --signal KILL`. Printed: for each round the seconds from the
kill to the first of the dead host's sends completing here and to the last, then their medians.
Target: median to the first at most 60 s. Needs PostgreSQL (scripts/postgres.sh start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SAFEGUARD_DATA_KEYS", "q2dvH8rM7t3JkYwZ5rR1sQ8bD0xN4cP6vF9aL2eU7iE=")  # a bench key
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", "bench-audit-key-not-for-production")
PG_ADMIN_URL = os.environ.get("SAFEGUARD_TEST_PG_URL",
                              "postgresql+psycopg://safeguard:safeguard@127.0.0.1:5432/postgres")


def holder_command(url: str, mail: str, ids: list[int], heartbeat: float, lease: float,
                   container: str | None) -> list[str]:
    args = [url, mail if container is None else "/mail", *map(str, ids),
            "--heartbeat", str(heartbeat), "--lease", str(lease)]
    if container is None:
        return [sys.executable, "-m", "testkit.claim_holder", *args, "--host", "host-b"]
    podman = subprocess.run([str(ROOT / "scripts/container-image.sh"), "--podman"], check=True,
                            capture_output=True, text=True).stdout.split()
    os.environ[podman[0].partition("=")[0]] = podman[0].partition("=")[2]  # CONTAINERS_CONF
    return [*podman[1:], "run", "--rm", "--name", container, "--hostname", container, "--network", "host",
            "-v", f"{mail}:/mail", "-e", "SAFEGUARD_DATA_KEYS", "-e", "SAFEGUARD_AUDIT_KEY",
            "--workdir", "/app", "localhost/safeguard:latest", "python", "-m", "testkit.claim_holder", *args]


def kill(holder: subprocess.Popen[str], container: str | None) -> float:
    """SIGKILL the holder; returns when it died (before podman's clean-up, which takes seconds)."""
    if container is None:
        holder.kill()
    else:
        podman = subprocess.run([str(ROOT / "scripts/container-image.sh"), "--podman"], check=True,
                                capture_output=True, text=True).stdout.split()[1:]
        subprocess.run([*podman, "kill", "--signal", "KILL", container], check=True, capture_output=True)
    died = time.monotonic()
    holder.wait()
    return died


def one_round(admin_url: str, entries: int, sweep: float, in_container: bool = False) -> tuple[float, float]:
    from safeguard.adapters.mail.maildir import MaildirMailbox
    from safeguard.adapters.notify.outbox import ClaimLease, Sender, queue_email, send_entries
    from safeguard.adapters.notify.render import Rendered
    from safeguard.adapters.register.db import make_engine, migrate
    from safeguard.adapters.register.uow import uow_factory

    name = f"safeguard_failover_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        migrate(engine)
        uow = uow_factory(engine)
        now = datetime.now(UTC)
        with uow() as u:
            ids = [queue_email(u.register, key=f"failover:{i}", kind="notice:bench",
                               rendered=Rendered(f"Notice {i}", "text\n", "<p>text</p>"),
                               sender=Sender("safeguarding@example-icb.test", "Safeguarding"),
                               recipients=["safeguarding@uhcw.test"], at=now).id for i in range(entries)]
            u.commit()
        lease = ClaimLease()
        with tempfile.TemporaryDirectory() as mail:
            os.chmod(mail, 0o777)  # the container's user writes there
            container = f"safeguard-failover-{uuid.uuid4().hex[:8]}" if in_container else None
            holder = subprocess.Popen(
                holder_command(url, mail, ids, lease.heartbeat_seconds, lease.lease_seconds, container),
                cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert holder.stdout is not None and holder.stdout.readline().startswith("held")
            time.sleep(lease.lease_seconds / 2)  # mid-batch: its claims renewed a few times already
            died = kill(holder, container)
            box = MaildirMailbox(Path(mail), "safeguarding@example-icb.test")
            first = 0.0
            while True:
                statuses = send_entries(ids, mailbox=box, uow=uow, now=lambda: datetime.now(UTC), lease=lease)
                if "sent" in statuses.values() and not first:
                    first = time.monotonic() - died
                if set(statuses.values()) == {"sent"}:
                    return first, time.monotonic() - died
                time.sleep(sweep)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--sweep", type=float, default=2.0, help="seconds between the survivor's sweeps")
    parser.add_argument("--database-url", default=PG_ADMIN_URL, help="a PostgreSQL server's admin URL")
    parser.add_argument("--container", action="store_true", help="the dying sender is a container")
    args = parser.parse_args()
    firsts, lasts = [], []
    for n in range(args.rounds):
        first, last = one_round(args.database_url, args.entries, args.sweep, args.container)
        firsts.append(first)
        lasts.append(last)
        print(f"round {n + 1}: first send on the survivor {first:.1f} s after the kill, all {last:.1f} s",
              flush=True)
    median = statistics.median(firsts)
    print(f"median: first {median:.1f} s, all {statistics.median(lasts):.1f} s "
          f"(target: first <= 60 s: {'met' if median <= 60 else 'NOT met'})")


if __name__ == "__main__":
    main()
