"""Backfill without Airflow: run a date range one interval at a time, in order, with a
progress bar, remembering finished intervals so a stopped backfill resumes where it
stopped.

Each interval runs what a nightly run does before the sync: extract every source entity
into its own landing file, `dbt build` with `as_of` = the interval's end, then the gate.
Nothing is sent to an ESP: a backfill rebuilds history, and the next sync sends only the
current audiences. Finished intervals are recorded in a state file in `backfill/` beside
the landing folder, written atomically after each interval.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tailor import settings
from tailor.sources.backfill import intervals

Interval = tuple[datetime, datetime]


def interval_key(interval: Interval) -> str:
    lo, hi = interval
    return f"{lo.isoformat()}__{hi.isoformat()}"


def state_path(name: str, start: datetime, end: datetime, step: timedelta) -> Path:
    stamp = f"{start:%Y%m%dT%H%M%SZ}__{end:%Y%m%dT%H%M%SZ}__{int(step.total_seconds())}s"
    # Beside the landing files it describes (a test's or a demo's landing has its own).
    return settings.landing_dir().parent / "backfill" / f"{name}__{stamp}.json"


def load_done(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return set(json.loads(path.read_text())["done"])


def save_done(path: Path, done: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(json.dumps({"done": sorted(done)}, indent=1))
    os.replace(staged, path)


def run(
    name: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    one_interval: Callable[[datetime, datetime], dict[str, Any]],
    *,
    restart: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run `one_interval(lo, hi)` for every interval of [start, end) not yet done; stop at
    the first failure (raised), keeping every interval finished before it."""
    from tqdm import tqdm

    parts = list(intervals(start, end, step))
    path = state_path(name, start, end, step)
    done = set() if restart else load_done(path)
    todo = [part for part in parts if interval_key(part) not in done]
    results: dict[str, Any] = {}
    with tqdm(
        total=len(parts),
        initial=len(parts) - len(todo),
        desc=name,
        unit="interval",
        disable=not progress,
    ) as bar:
        for lo, hi in todo:
            bar.set_postfix_str(f"{lo:%Y-%m-%d %H:%M}", refresh=True)
            results[interval_key((lo, hi))] = one_interval(lo, hi)
            done.add(interval_key((lo, hi)))
            save_done(path, done)
            bar.update(1)
    return {
        "intervals": len(parts),
        "skipped_as_done": len(parts) - len(todo),
        "ran": len(todo),
        "state": str(path),
        "results": results,
    }


def pipeline_interval(lo: datetime, hi: datetime) -> dict[str, Any]:
    """One nightly interval without the sync: extract everything, build, gate."""
    from tailor import pipeline
    from tailor.sources import ENTITIES

    rows = 0
    for source, entities in ENTITIES.items():
        for entity in entities:
            rows += pipeline.extract(source, entity, lo, hi).get("rows", 0)
    built = pipeline.build(hi)
    gate = pipeline.gate(f"backfill__{hi.isoformat()}", hi)
    return {"rows": rows, "models": built["models"], "gate_passed": gate["passed"]}


def entity_interval(source: str, entity: str) -> Callable[[datetime, datetime], dict[str, Any]]:
    def land(lo: datetime, hi: datetime) -> dict[str, Any]:
        from tailor import pipeline

        return pipeline.extract(source, entity, lo, hi)

    return land
