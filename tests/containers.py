"""Podman as the project's machines run it (scripts/container-image.sh): the image, and workers
started from it as containers of their own, each with its own host name, sharing the host's
loopback (the Prefect server, PostgreSQL and Dovecot/Postfix the tests start)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "container-image.sh"


def podman() -> list[str]:
    """The podman command line with this machine's options; sets CONTAINERS_CONF as the script does."""
    line = subprocess.run([str(SCRIPT), "--podman"], check=True, capture_output=True,
                          text=True).stdout.split()
    name, _, value = line[0].partition("=")
    os.environ[name] = value
    return line[1:]


def build_image() -> str:
    """The image of this checkout (built, or reused when nothing it holds has changed)."""
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def run_detached(image: str, name: str, config_dir: Path, env: dict[str, str], *command: str) -> None:
    """A container named and host-named `name`, on the host's network, the config mounted read only."""
    environment = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    subprocess.run([*podman(), "run", "-d", "--name", name, "--hostname", name, "--network", "host",
                    "-v", f"{config_dir}:/etc/safeguard:ro", *environment, image, *command],
                   check=True, capture_output=True, timeout=120)


def run_once(image: str, name: str, config_dir: Path, env: dict[str, str], *command: str) -> None:
    """A one-off container in /app (prefect.yaml's folder), as compose.yaml's `deploy` service runs."""
    environment = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    done = subprocess.run([*podman(), "run", "--rm", "--name", name, "--network", "host", "--workdir", "/app",
                           "-v", f"{config_dir}:/etc/safeguard:ro", *environment, image, *command],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def kill(name: str) -> None:
    subprocess.run([*podman(), "kill", "--signal", "KILL", name], check=True, capture_output=True, timeout=60)


def logs(name: str) -> str:
    done = subprocess.run([*podman(), "logs", name], capture_output=True, text=True, timeout=60, check=False)
    return (done.stdout + done.stderr)[-4000:]


def tails(names: list[str]) -> str:
    return "\n".join(f"--- container {name}\n{logs(name)}" for name in names)


def remove(name: str) -> None:
    subprocess.run([*podman(), "rm", "-f", "-t", "0", name], capture_output=True, timeout=120, check=False)
