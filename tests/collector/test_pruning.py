"""The spool forgets what has landed once it is older than the retention, and not before:
a replay within the retention is still a duplicate, and a pruned interval's landing stands."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import duckdb
from tailor.collector import land, spool
from tailor.collector.server import EVENTS

from tests.collector.conftest import track_call, utc


def _record(n: int, event: str, received: str) -> spool.Record:
    call = track_call(n, when=f"{event}Z")
    payload = json.dumps(call, sort_keys=True, separators=(",", ":"))
    return spool.Record(EVENTS, call["messageId"], utc(event), utc(received), payload)


def _held(directory: Path) -> list[str]:
    with sqlite3.connect(directory / spool.FILE_NAME) as db:
        return [r[0] for r in db.execute("select record_key from records order by record_key")]


def _land(day: str, now: datetime, landing: Path, directory: Path) -> list[str]:
    start = utc(f"{day}T00:00")
    end = utc(f"{day}T00:00").replace(day=start.day + 1)
    result = land.extract(EVENTS, start, end, landing, directory, now=now)
    return sorted(
        r[0] for r in duckdb.sql(f"select id from read_parquet('{result.path}')").fetchall()
    )


def test_landed_records_are_pruned_after_the_retention_and_not_before(tmp_path: Path) -> None:
    directory, landing = tmp_path / "spool", tmp_path / "landing"
    store = spool.Spool(directory)
    try:
        old = _record(1, "2026-11-01T10:00:00", "2026-11-01T10:00:05")
        recent = _record(2, "2026-11-19T10:00:00", "2026-11-19T10:00:05")
        assert store.append([old, recent]) == [True, True]

        # 19 days later, 7 days' retention: the old interval lands, then its record goes
        assert _land("2026-11-01", utc("2026-11-20T01:00"), landing, directory) == ["msg-000001"]
        assert _held(directory) == ["msg-000002"]
        # landing the pruned interval again keeps its file, not an empty one
        assert _land("2026-11-01", utc("2026-11-20T02:00"), landing, directory) == ["msg-000001"]

        # the recent interval lands; its record stays for the retention, so a replay of it
        # is still recognised as a duplicate and lands once
        assert _land("2026-11-19", utc("2026-11-20T01:00"), landing, directory) == ["msg-000002"]
        assert store.append([recent]) == [False]
        assert _land("2026-11-19", utc("2026-11-20T02:00"), landing, directory) == ["msg-000002"]
        assert _held(directory) == ["msg-000002"]

        # a late event goes only once the interval it arrived in has landed too
        late = _record(4, "2026-11-02T23:00:00", "2026-11-03T01:00:00")
        assert store.append([late]) == [True]
        assert _land("2026-11-02", utc("2026-11-20T03:00"), landing, directory) == ["msg-000004"]
        assert "msg-000004" in _held(directory)
        assert _land("2026-11-03", utc("2026-11-20T03:00"), landing, directory) == ["msg-000004"]
        assert "msg-000004" not in _held(directory)

        # a record never landed is never pruned, however old
        unlanded = _record(3, "2026-10-01T10:00:00", "2026-10-01T10:00:05")
        assert store.append([unlanded]) == [True]
        _land("2026-11-19", utc("2026-11-28T00:00"), landing, directory)
        assert _held(directory) == ["msg-000003"]
    finally:
        store.close()
