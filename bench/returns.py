"""Building the monthly returns from 100,000 FGM records, beside a baseline in the same run.

    .venv/bin/python bench/returns.py [--records 100000] [--database-url URL]

Baseline: read the month's records from the register with pandas (decrypting them: personal data
is encrypted at rest) and write them to one plain sheet with pandas (openpyxl engine): the least any
return could do.
Returns: `produce()` as the monthly deployment runs it: the record-level workbook (streamed,
write-only), the aggregate workbook (every breakdown, disclosure control, prevalence, data
quality, charts) and the alert activity return. Target: under 3x the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.register.crypto import decrypt, new_key
from safeguard.adapters.register.db import make_engine, migrate
from safeguard.adapters.register.uow import uow_factory
from safeguard.domain.fgm import check_submission
from safeguard.service_layer.fgm_intake import store_submission
from safeguard.service_layer.intake import IntakeContext
from safeguard.service_layer.returns import produce
from testkit.fgm_synthetic import random_month

ROOT = Path(__file__).resolve().parents[1]
MONTH = "2026-10"
PROVIDERS = ("UHCW", "SWFT", "GEH", "CWPT")

# A benchmark register is thrown away: throwaway keys for its encrypted columns.
os.environ.setdefault("SAFEGUARD_DATA_KEYS", new_key())
os.environ.setdefault("SAFEGUARD_HASH_KEY", new_key())
os.environ.setdefault("SAFEGUARD_AUDIT_KEY", new_key())

def load(ctx: IntakeContext, records: int) -> None:
    """Check and store `records` synthetic attendances for MONTH, split across providers."""
    fgm = ctx.config.fgm
    labels = [i.label for i in fgm.items]
    per = records // len(PROVIDERS)
    for n, code in enumerate(PROVIDERS):
        rows = random_month(MONTH, per, seed=n + 1, patients=per * 3 // 4)
        grid = [labels] + [[r.get(i.key) for i in fgm.items] for r in rows]
        sub = check_submission(grid, {}, fgm, MONTH)
        assert not sub.errors, sub.errors[:3]
        with ctx.uow() as u:
            store_submission(u.register, ctx.config, code, sub, source="command", filename=f"{code}.xlsx",
                             now=datetime(2026, 11, 1, tzinfo=UTC))
            u.commit()


def _plain(stored: object) -> dict:
    """The stored value as the returns see it: decrypted (personal data is encrypted at rest)."""
    value = json.loads(stored) if isinstance(stored, str) and stored.startswith('"') else stored
    return json.loads(decrypt(value)) if isinstance(value, str) else value  # type: ignore[return-value]


def baseline(url: str, out: Path) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(text("SELECT provider_code, data FROM fgm_records WHERE month = :m"), conn,
                            params={"m": MONTH})
    engine.dispose()
    data = pd.json_normalize(frame["data"].map(_plain))
    data.insert(0, "provider_code", frame["provider_code"])
    data.to_excel(out, index=False, engine="openpyxl")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    config = load_config(ROOT / "config")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'register.sqlite3'}"
        engine = make_engine(url)
        migrate(engine)
        box = MaildirMailbox(folder / "mail", config.settings.service.mailbox_address)
        ctx = IntakeContext(config, box, uow_factory(engine), lambda: datetime(2026, 11, 1, 7, tzinfo=UTC))
        started = time.perf_counter()
        load(ctx, args.records)
        print(f"loaded {args.records} checked records in {time.perf_counter() - started:.1f} s "
              "(not timed below)")

        started = time.perf_counter()
        baseline(url, folder / "baseline.xlsx")
        base = time.perf_counter() - started

        started = time.perf_counter()
        result = produce(ctx, MONTH, out_dir=folder / "returns")
        ours = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sizes = {k: f"{p.stat().st_size / 2**20:.1f} MB" for k, p in result.files.items()}
        print(f"baseline (pandas read + one plain sheet): {base:.1f} s")
        print(f"returns (record-level + aggregate + activity): {ours:.1f} s, "
              f"peak process memory {peak:.0f} MB, {sizes}")
        print(f"ratio: {ours / base:.2f}x the baseline (target: under 3x)")
        print(f"FGM headline (rounded): {result.fgm_headline}")
        engine.dispose()


if __name__ == "__main__":
    main()
