"""Named points where a test may kill the process (SIGKILL), to prove recovery.

Set SAFEGUARD_KILL_AT to a point name (e.g. "after_commit"), or "name#N" to die the Nth time the
point is reached; the process dies there, as it would on a power cut. Unset, a checkpoint costs
one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

POINTS = ("after_fetch", "after_parse", "after_commit", "before_send", "after_send", "before_move",
          "after_move")
DISPATCH_POINTS = ("after_decision", "before_send#1", "after_send#1", "before_send#2", "after_send#2",
                   "after_send#3", "between_smtp_and_append#1", "between_smtp_and_append#2")
_reached: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    target = os.environ.get("SAFEGUARD_KILL_AT")
    if not target or not target.startswith(name):
        return
    _reached[name] += 1
    point, _, nth = target.partition("#")
    if point == name and _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
