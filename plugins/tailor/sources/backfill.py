"""Backfill: land a date range one interval at a time, as the nightly runs would have.

Each interval lands its own immutable file, so a backfill that stops half-way can simply
be run again: finished intervals are replaced by the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from tailor.sources.landing import LandResult


def intervals(
    start: datetime, end: datetime, step: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive intervals of `step`; the last may be shorter."""
    if step <= timedelta(0):
        raise ValueError(f"the interval must be positive, got {step}")
    if end <= start:
        raise ValueError(f"empty range: {start.isoformat()} is not before {end.isoformat()}")
    lo = start
    while lo < end:
        hi = min(lo + step, end)
        yield lo, hi
        lo = hi


def backfill(
    source: str,
    entity: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    landing_root: Path,
    progress: bool = True,
) -> list[LandResult]:
    """Extract every interval of [start, end) in turn, with a progress bar on stderr."""
    from tqdm import tqdm

    from tailor.sources import extract

    parts = list(intervals(start, end, step))
    results: list[LandResult] = []
    with tqdm(parts, desc=f"{source} {entity}", unit="interval", disable=not progress) as bar:
        for lo, hi in bar:
            result = extract(source, entity, lo, hi, landing_root)
            results.append(result)
            bar.set_postfix(rows=sum(r.rows for r in results), refresh=False)
    return results
