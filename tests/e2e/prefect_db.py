"""Read the test Prefect server's database as text, to prove no personal data reached it."""

from __future__ import annotations

import re
import sqlite3

from testkit import samples
from tests.conftest import TODAY

PERSONAL_DATA = [samples.SUBJECT_SURNAME, "Zephyrine", "Amaranth", "Persephone", samples.CHILD_NHS,
                 samples.MOTHER_NHS, "943 476 5919", samples.CHILD_POSTCODE, "CV15FB", "Nowhere Lane",
                 "03/04/1985", "1985-04-03", samples.subjects(TODAY)[0]["Date of birth"],
                 "exploitation"]


def prefect_database_text(url: str) -> str:
    """The whole database as SQL text, less the names Prefect makes up for flow runs: two random
    words ("amaranth-stork"), among them colours that are also forenames in the samples. The names
    are taken out wherever they occur (logs quote them too); nothing of ours names a run so."""
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dump = "\n".join(conn.iterdump())
        generated = [name for (name,) in conn.execute("SELECT name FROM flow_run")
                     if GENERATED.fullmatch(name)]
    finally:
        conn.close()
    for name in sorted(generated, key=len, reverse=True):
        dump = dump.replace(name, "(run name)")
    return dump


GENERATED = re.compile(r"[a-z]+-[a-z]+")  # prefect.utilities.names.generate_slug(2)


def leaked(url: str, extra: tuple[str, ...] = ()) -> list[str]:
    dump = prefect_database_text(url).lower()
    return [item for item in (*PERSONAL_DATA, *extra) if item.lower() in dump]
