"""Landing files: one immutable Parquet file per source, entity and interval.

A file is written under a temporary name and renamed into place, so a crash leaves no
half-written file; re-running an interval replaces exactly its file. Each row keeps the
record's id, its `updated_at` and the full payload as JSON text, so fields the API adds
later are kept and staging decides what to read. Pages stream to disk in row groups of a
fixed size, so memory does not grow with the size of a source, and the file's bytes do not
depend on how the API happened to page (a re-run lands the same bytes).

A record that breaks its entity's contract goes to the interval's quarantine file,
`_quarantine/<source>/<entity>/<interval>.jsonl` under the landing root (outside the folders
dbt reads), one JSON line with the reason and the raw payload; it is written atomically
beside the landing file and replaced with it.
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

from tailor.sources.contracts import Contract, lookup

ROW_GROUP_ROWS = 10_000  # rows per Parquet row group: bounded memory, paging-independent bytes

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


def quarantine_path(root: Path, source: str, entity: str, start: datetime, end: datetime) -> Path:
    return Path(root) / "_quarantine" / source / entity / f"{stamp(start)}__{stamp(end)}.jsonl"


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
    quarantined: int = 0
    quarantine_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "entity": self.entity,
            "path": str(self.path),
            "rows": self.rows,
            "pages": self.pages,
            "quarantined": self.quarantined,
            "quarantine_path": str(self.quarantine_path) if self.quarantine_path else None,
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
        contract: Contract | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
    ):
        self.source, self.entity = source, entity
        self.start, self.end = start.astimezone(UTC), end.astimezone(UTC)
        self.updated_field = updated_field
        self.contract = contract
        self.row_group_rows = row_group_rows
        self.path = landing_path(root, source, entity, start, end)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, SCHEMA, compression="zstd")
        self.quarantine = quarantine_path(root, source, entity, start, end)
        self._quarantine_tmp = self.quarantine.with_name(
            f".{self.quarantine.name}.{os.getpid()}.tmp"
        )
        self._quarantine_fh: Any = None
        self._ids: list[str] = []
        self._updated_ats: list[datetime | None] = []
        self._payloads: list[str] = []
        self.rows = 0
        self.pages = 0
        self.quarantined = 0

    def _check(self, record: Any) -> tuple[str | None, datetime | None]:
        """(why the record cannot land, its updated_at)."""
        reason = self.contract.violation(record) if self.contract else None
        if reason is None and (not isinstance(record, dict) or record.get("id") is None):
            reason = "required field id is missing"
        if reason is not None:
            return reason, None
        try:
            return None, parse_timestamp(lookup(record, self.updated_field))
        except (TypeError, ValueError) as exc:
            return f"{self.updated_field} is unreadable: {exc}", None

    def write_page(self, records: Iterable[dict[str, Any]]) -> None:
        self.pages += 1
        for record in records:
            reason, updated_at = self._check(record)
            if reason is not None:
                self._quarantine(record, reason)
                continue
            self._ids.append(str(record["id"]))
            self._updated_ats.append(updated_at)
            self._payloads.append(json.dumps(record, sort_keys=True, separators=(",", ":")))
            if len(self._ids) >= self.row_group_rows:
                self._flush()

    def _flush(self) -> None:
        n = len(self._ids)
        if not n:
            return
        table = pa.table(
            {
                "id": self._ids,
                "updated_at": self._updated_ats,
                "payload": self._payloads,
                "interval_start": [self.start] * n,
                "interval_end": [self.end] * n,
            },
            schema=SCHEMA,
        )
        self._writer.write_table(table)
        self.rows += n
        self._ids, self._updated_ats, self._payloads = [], [], []

    def _quarantine(self, record: Any, reason: str) -> None:
        if self._quarantine_fh is None:
            self.quarantine.parent.mkdir(parents=True, exist_ok=True)
            self._quarantine_fh = self._quarantine_tmp.open("w", encoding="utf-8")
        rid = record.get("id") if isinstance(record, dict) else None
        line = {
            "source": self.source,
            "entity": self.entity,
            "interval_start": self.start.isoformat(),
            "interval_end": self.end.isoformat(),
            "id": rid if isinstance(rid, str | int) else None,
            "reason": reason,
            "payload": record,
        }
        self._quarantine_fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
        self.quarantined += 1

    def __enter__(self) -> LandingWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._writer.close()
            if self._quarantine_fh is not None:
                self._quarantine_fh.flush()
                os.fsync(self._quarantine_fh.fileno())
                self._quarantine_fh.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
            # the interval's quarantine is replaced with its landing, or removed if now clean
            if self._quarantine_fh is not None:
                os.replace(self._quarantine_tmp, self.quarantine)
            else:
                self.quarantine.unlink(missing_ok=True)
        else:
            self._tmp.unlink(missing_ok=True)
            self._quarantine_tmp.unlink(missing_ok=True)

    def result(self) -> LandResult:
        return LandResult(
            self.source,
            self.entity,
            self.path,
            self.rows,
            self.pages,
            self.quarantined,
            self.quarantine if self.quarantined else None,
        )
