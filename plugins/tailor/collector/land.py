"""Land the spool's records for one interval, through the landing writer the APIs use.

- `collector/events`: calls whose event `timestamp` is in [start, end), and calls that
  arrived in [start, end) for an earlier interval (late events, e.g. from a device that was
  offline). A late event therefore lands with the next run after it arrives, without a
  backfill, and again in its own interval if that interval is re-landed; dbt keeps one row
  per id. An interval's file is complete, and a re-run is byte-identical, once every event
  of the interval has arrived.
- `collector/shopify_webhooks`: deliveries received in [start, end), by `received_at`.

Landing id is the messageId (the webhook id); `updated_at` is the event's timestamp (its
received_at). Calls refused at intake go to the interval's quarantine file with the reason.

After an interval lands, the spool forgets records of landed intervals older than the
retention (`TAILOR_COLLECTOR_RETENTION_DAYS`, 7; see `spool.mark_landed_and_prune`), so it
does not grow forever. An interval whose records were pruned is not landed again: its
landing file, written while they were there, is kept as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tailor import settings
from tailor.collector import config, spool
from tailor.collector.server import EVENTS, WEBHOOKS
from tailor.redact import get_logger
from tailor.sources.landing import LandingWriter, LandResult, landing_path

log = get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# entity -> (updated_at field, late events land by arrival)
STREAMS = {EVENTS: ("timestamp", True), WEBHOOKS: ("received_at", False)}


class SpoolLandingWriter(LandingWriter):
    """A landing writer fed rows the spool already holds in landing form.

    The spool keeps each payload as the landing writer serialises it (sorted keys, compact)
    and its time in microseconds, so rows go to the file without parsing JSON again.
    """

    def write_rows(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """(row id, payload JSON, updated_at in microseconds since the epoch) per record."""
        self.pages += 1
        for rid, payload, micros in rows:
            self._ids.append(rid)
            self._updated_ats.append(EPOCH + timedelta(microseconds=micros))
            self._payloads.append(payload)
            if len(self._ids) >= self.row_group_rows:
                self._flush()

    def refuse(self, record: Any, reason: str) -> None:
        """A record refused before it reached the spool: quarantined with its reason."""
        self._quarantine(record, reason)


def extract(
    entity: str,
    start: datetime,
    end: datetime,
    landing_root: Path,
    spool_dir: Path | None = None,
    now: datetime | None = None,
) -> LandResult:
    if entity not in STREAMS:
        raise ValueError(f"unknown collector entity {entity!r}; known: {', '.join(STREAMS)}")
    updated_field, late_by_arrival = STREAMS[entity]
    directory = spool_dir or config.spool_dir()
    kept = _already_pruned(entity, start, end, landing_root, directory)
    if kept is not None:
        return kept
    with SpoolLandingWriter(landing_root, "collector", entity, start, end, updated_field) as writer:
        writer.write_rows(spool.read_events(directory, entity, start, end, late_by_arrival))
        for reason, raw in spool.read_rejected(directory, entity, start, end):
            writer.refuse(json.loads(raw), reason)
    result = writer.result()
    retention = timedelta(days=settings.collector_retention_days())
    pruned = spool.mark_landed_and_prune(
        directory, entity, start, end, retention, now or datetime.now(UTC)
    )
    log.info(
        "collector %s: %d rows, %d quarantined -> %s; %d older records pruned from the spool",
        entity,
        result.rows,
        result.quarantined,
        result.path.name,
        pruned,
    )
    return result


def _already_pruned(
    entity: str, start: datetime, end: datetime, landing_root: Path, directory: Path
) -> LandResult | None:
    """The landing file of an interval whose records the spool no longer holds."""
    path = landing_path(landing_root, "collector", entity, start, end)
    if not path.exists() or not spool.was_pruned(directory, entity, start, end):
        return None
    rows = pq.ParquetFile(path).metadata.num_rows
    log.info("collector %s: %s was pruned from the spool; its landing file stands", entity, path)
    return LandResult("collector", entity, path, rows, pages=0)
