"""Imported only into the forkserver that intake's helper processes start from (intake_pool.PRELOAD),
so that helpers start without running the parent process's main module again.

multiprocessing has every new process import the parent's __main__ (as __mp_main__) in case the
work it is sent refers to it. Intake's helpers never need it: what they run lives in importable
modules (intake_pool.process_in_parallel asks that of open_context). And it is not free: under a
Prefect worker the main module is prefect.engine, about 0.8 s of CPU for every helper; under the
benchmark, the benchmark script and openpyxl. The forkserver is this process's own and runs nothing
but our helpers (set_forkserver_preload is ours too), so the change reaches no one else.
"""

from __future__ import annotations

from multiprocessing import spawn


def _leave_main_alone(_main: str) -> None:
    return None


for _name in ("_fixup_main_from_name", "_fixup_main_from_path"):  # private: skipped if ever renamed
    if hasattr(spawn, _name):
        setattr(spawn, _name, _leave_main_alone)
