"""Track and identify calls: signed, shape-checked, de-duplicated by messageId, landed by time."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import requests
import tailor.sources
from tailor.collector import signing

from tests.collector.conftest import TRACK_SECRET, post_batch, track_call, utc

START, END = utc("2026-11-19T00:00:00"), utc("2026-11-20T00:00:00")


def test_unsigned_or_forged_calls_are_refused(collector) -> None:
    body = json.dumps(track_call(1)).encode()
    unsigned = requests.post(f"{collector.url}/v1/track", data=body, timeout=10)
    forged = post_batch(collector.url, [track_call(1)], secret="not-the-secret")
    assert unsigned.status_code == forged.status_code == 401


def test_a_malformed_call_gets_400_with_the_reason(collector) -> None:
    call = track_call(1)
    del call["messageId"]
    body = json.dumps(call).encode()
    headers = {signing.TAILOR_HEADER: signing.sign(TRACK_SECRET, body)}
    answer = requests.post(f"{collector.url}/v1/track", data=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "messageId is required"


def test_batch_sets_bad_calls_aside_and_lands_each_message_once(
    collector, spool_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    good = [track_call(n) for n in range(10)]
    identify = {
        "type": "identify",
        "userId": "7001",
        "anonymousId": "anon-1",
        "traits": {"email": "jane@example.com"},
        "messageId": "msg-identify",
        "timestamp": "2026-11-19T11:00:00.123Z",
    }
    bad_time = track_call(98, when="yesterday")
    no_ids = track_call(99, userId=None, anonymousId=None)
    first = post_batch(collector.url, [*good, bad_time, identify, no_ids])
    assert first.status_code == 200
    body = first.json()
    assert (body["accepted"], body["duplicates"]) == (11, 0)
    assert [(r["index"], r["messageId"]) for r in body["rejected"]] == [
        (10, "msg-000098"),
        (12, "msg-000099"),
    ]
    assert body["rejected"][1]["reason"] == "userId or anonymousId is required"
    # a retried batch, with one message changed, stores nothing new
    again = post_batch(collector.url, [{**good[0], "event": "Changed"}, *good[1:3]]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    late = post_batch(collector.url, [track_call(500, when="2026-11-20T00:00:00Z")]).json()
    assert late["accepted"] == 1  # the next interval's

    monkeypatch.setenv("TAILOR_COLLECTOR_DIR", str(spool_dir))
    result = tailor.sources.extract("collector", "events", START, END, tmp_path)
    rows = duckdb.sql(
        f"select id, payload->>'event', payload->>'type' from read_parquet('{result.path}')"
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted([c["messageId"] for c in good] + ["msg-identify"])
    assert ("msg-000000", "Product Viewed", "track") in rows
    assert result.quarantined == 0  # refused calls land by arrival: no trustworthy timestamp
    now = datetime.now(UTC)
    today = tailor.sources.extract(
        "collector", "events", now - timedelta(hours=1), now + timedelta(seconds=1), tmp_path
    )
    assert today.rows == 12  # they arrived today for an earlier interval: late, so here too
    quarantined = [json.loads(line) for line in today.quarantine_path.read_text().splitlines()]
    assert sorted(q["payload"]["messageId"] for q in quarantined) == ["msg-000098", "msg-000099"]
    assert all(q["reason"] for q in quarantined)


def test_an_interval_relanded_is_byte_identical(collector, spool_dir: Path, tmp_path) -> None:
    calls = [track_call(n, when=f"2026-11-19T{n % 24:02d}:{n % 60:02d}:00Z") for n in range(300)]
    assert post_batch(collector.url, calls).json()["accepted"] == 300
    from tailor.collector import land

    a = land.extract("events", START, END, tmp_path / "a", spool_dir)
    digest = hashlib.sha256(a.path.read_bytes()).hexdigest()
    b = land.extract("events", START, END, tmp_path / "a", spool_dir)
    assert a.rows == 300 and b.path == a.path
    assert hashlib.sha256(b.path.read_bytes()).hexdigest() == digest


def test_a_late_event_lands_with_the_interval_it_arrived_in(spool_dir: Path, tmp_path) -> None:
    from tailor.collector import land
    from tailor.collector.server import Collector
    from tailor.collector.spool import Spool

    from tests.collector.conftest import SECRETS

    arrived = utc("2026-11-20T03:00:00")
    spool = Spool(spool_dir)
    collector = Collector(spool, SECRETS, clock=lambda: arrived)
    body = json.dumps({"batch": [track_call(1, when="2026-11-18T23:00:00Z")]}).encode()
    headers = {signing.TAILOR_HEADER: signing.sign(TRACK_SECRET, body)}
    assert collector.handle("POST", "/v1/batch", headers, body)[0] == 200
    spool.close()

    def ids(start: datetime, end: datetime) -> list[str]:
        path = land.extract("events", start, end, tmp_path, spool_dir).path
        return [r[0] for r in duckdb.sql(f"select id from read_parquet('{path}')").fetchall()]

    assert ids(utc("2026-11-18T00:00:00"), utc("2026-11-19T00:00:00")) == ["msg-000001"]
    assert ids(START, END) == []
    assert ids(utc("2026-11-20T00:00:00"), utc("2026-11-21T00:00:00")) == ["msg-000001"]
