"""Where the working-day calendar's bank holidays come from: the cached GOV.UK list in config/ (see
safeguard/domain/calendar.py), and refreshing that cache from GOV.UK."""

from __future__ import annotations

from pathlib import Path

from safeguard.domain.calendar import WorkingDays, read_gov_uk

GOV_UK_URL = "https://www.gov.uk/bank-holidays.json"
CACHE_NAME = "bank-holidays.json"


def load_calendar(config_dir: Path) -> WorkingDays:
    """The package's holidays plus the cached GOV.UK list, if config/ has one."""
    cache = config_dir / CACHE_NAME
    return WorkingDays(extra=frozenset(read_gov_uk(cache.read_text()))) if cache.exists() else WorkingDays()


def refresh_cache(config_dir: Path, url: str = GOV_UK_URL, timeout: float = 20.0) -> tuple[bool, int]:
    """Fetch the published list into the cache. Returns (fetched, dates now cached); on any network
    or format problem the existing cache is kept and (False, its size) returned."""
    import httpx

    cache = config_dir / CACHE_NAME
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        dates = read_gov_uk(response.text)
    except (httpx.HTTPError, ValueError, KeyError):
        return False, len(read_gov_uk(cache.read_text())) if cache.exists() else 0
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(response.text)
    tmp.replace(cache)
    return True, len(dates)
