"""The README's first command: `safeguard demo` runs intake through Prefect and says what happened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_demo_processes_every_sample_and_prints_where_the_replies_are(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "SAFEGUARD_"))}
    result = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--dir", str(tmp_path / "demo")],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Totals: accepted 2, invalid 1, quarantined 1, duplicate 1" in out
    assert "unauthorised sender                      Quarantine  (no reply: admin team told)" in out
    assert "Health alert form not accepted: 3 problems to fix" in out
    assert "(same message: no second reply)" in out
    assert "alert notice -> safeguarding@uhcw.test: 1 message in its mailbox" in out
    assert "Nothing went to the providers not on the form: GEH, CWPT, WMAS, BHAM" in out
    assert ("UHCW: withdrawn, acknowledged: yes; 2 messages" in out
            and "SWFT: withdrawn, acknowledged: no" in out)
    assert (tmp_path / "demo" / "HSA-2026-000001-history.xlsx").exists()
    assert "Traceback" not in out + result.stderr
