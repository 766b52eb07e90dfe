"""Read the test Prefect server's database as text, to prove no personal data reached it."""

from __future__ import annotations

import sqlite3

from safeguard import samples
from tests.conftest import TODAY

PERSONAL_DATA = [samples.SUBJECT_SURNAME, "Zephyrine", "Amaranth", "Persephone", samples.CHILD_NHS,
                 samples.MOTHER_NHS, "943 476 5919", samples.CHILD_POSTCODE, "CV15FB", "Nowhere Lane",
                 "03/04/1985", "1985-04-03", samples.subjects(TODAY)[0]["Date of birth"],
                 "exploitation"]


def prefect_database_text(url: str) -> str:
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def leaked(url: str, extra: tuple[str, ...] = ()) -> list[str]:
    dump = prefect_database_text(url).lower()
    return [item for item in (*PERSONAL_DATA, *extra) if item.lower() in dump]
