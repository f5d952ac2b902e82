"""Landing files: one immutable Parquet file per source, entity and interval.

A file is written under a temporary name and renamed into place, so a crash leaves no
half-written file; re-running an interval replaces exactly its file. Each row keeps the
record's id, its `updated_at` and the full payload as JSON text, so fields the API adds
later are kept and staging decides what to read. Pages stream to disk as row groups, so
memory does not grow with the size of a source.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("interval_start", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("interval_end", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def landing_path(root: Path, source: str, entity: str, start: datetime, end: datetime) -> Path:
    return Path(root) / source / entity / f"{stamp(start)}__{stamp(end)}.parquet"


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 (with Z) or epoch milliseconds, as the APIs send them, to aware UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class LandResult:
    source: str
    entity: str
    path: Path
    rows: int
    pages: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "entity": self.entity,
            "path": str(self.path),
            "rows": self.rows,
            "pages": self.pages,
        }


class LandingWriter:
    """Streams pages of records into one landing file, atomically."""

    def __init__(
        self,
        root: Path,
        source: str,
        entity: str,
        start: datetime,
        end: datetime,
        updated_field: str,
    ):
        self.source, self.entity = source, entity
        self.start, self.end = start.astimezone(UTC), end.astimezone(UTC)
        self.updated_field = updated_field
        self.path = landing_path(root, source, entity, start, end)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, SCHEMA, compression="zstd")
        self.rows = 0
        self.pages = 0

    def _updated(self, record: dict[str, Any]) -> datetime | None:
        value: Any = record
        for key in self.updated_field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return parse_timestamp(value)

    def write_page(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        self.pages += 1
        if not records:
            return
        n = len(records)
        table = pa.table(
            {
                "id": [str(r["id"]) for r in records],
                "updated_at": [self._updated(r) for r in records],
                "payload": [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in records],
                "interval_start": [self.start] * n,
                "interval_end": [self.end] * n,
            },
            schema=SCHEMA,
        )
        self._writer.write_table(table)
        self.rows += n

    def __enter__(self) -> LandingWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._writer.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def result(self) -> LandResult:
        return LandResult(self.source, self.entity, self.path, self.rows, self.pages)
