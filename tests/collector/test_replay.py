"""`tailor events replay` through a `tailor collector serve` process, as the demo feeds events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import tailor.sources

from sandbox import local
from tests.collector.conftest import track_call, utc


def test_replaying_a_file_stores_each_event_once_and_lands_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.jsonl"
    calls = [track_call(n, when=f"2026-11-19T{n % 24:02d}:00:00Z") for n in range(1200)]
    calls.append({**track_call(5000), "timestamp": "not a time"})
    events.write_text("".join(json.dumps(c) + "\n" for c in calls))
    env = {**os.environ, "TAILOR_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()

    first = local.replay_events(events, env, tmp_path / "collector.log")
    again = local.replay_events(events, env, tmp_path / "collector.log")
    assert "1201 events sent, 1200 stored, 0 already stored, 1 refused" in first
    assert "1201 events sent, 0 stored, 1200 already stored, 1 refused" in again
    assert "collector-sandbox-secret" not in first + (tmp_path / "collector.log").read_text()

    monkeypatch.setenv("TAILOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TAILOR_COLLECTOR_DIR", raising=False)
    landed = tailor.sources.extract(
        "collector", "events", utc("2026-11-19T00:00"), utc("2026-11-20T00:00"), tmp_path / "l"
    )
    assert landed.rows == 1200


def test_a_missing_events_file_is_skipped(tmp_path: Path) -> None:
    message = local.replay_events(tmp_path / "events.jsonl", dict(os.environ), tmp_path / "log")
    assert "nothing to replay" in message
