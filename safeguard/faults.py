"""Named points where a test may kill the process (SIGKILL), to prove recovery.

Set SAFEGUARD_KILL_AT to a point name (e.g. "after_commit"); the process dies there, as it would
on a power cut. Unset, a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_fetch", "after_parse", "after_commit", "after_outbox", "before_send", "after_send",
          "before_move", "after_move")
DISPATCH_POINTS = ("after_decision", "before_send", "after_send")


def checkpoint(name: str) -> None:
    if os.environ.get("SAFEGUARD_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
