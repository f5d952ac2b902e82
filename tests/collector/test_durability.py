"""A collector killed right after it acknowledged loses nothing, and still knows what it saw."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from tailor.collector import land

from tests.collector.conftest import SHOPIFY_SECRET, TRACK_SECRET, post_batch, track_call, utc


@contextmanager
def collector_process(spool: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    conn = {"conn_type": "http", "host": "127.0.0.1", "schema": "http", "password": TRACK_SECRET}
    conn["extra"] = {"shopify_webhook_secret": SHOPIFY_SECRET}
    env = {**os.environ, "AIRFLOW_CONN_TAILOR_COLLECTOR": json.dumps(conn)}
    command = [sys.executable, "-u", "-m", "tailor.cli", "collector", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--spool", str(spool)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"listening on (\S+)", proc.stdout.readline())
            if found:
                yield proc, found.group(1)
                return
        raise AssertionError("the collector did not start")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_a_crash_after_acks_loses_nothing(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    calls = [track_call(n, when=f"2026-11-19T12:{n % 60:02d}:00Z") for n in range(2000)]
    acked: list[str] = []
    with collector_process(spool) as (proc, url):
        for start in range(0, len(calls), 250):
            batch = calls[start : start + 250]
            answer = post_batch(url, batch)
            assert answer.status_code == 200 and answer.json()["accepted"] == len(batch)
            acked += [c["messageId"] for c in batch]
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: the acks must already hold
        proc.wait(timeout=10)
    with collector_process(spool) as (proc, url):
        again = post_batch(url, calls[:500]).json()
        assert (again["accepted"], again["duplicates"]) == (0, 500)  # de-dup survived
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0

    result = land.extract(
        "events", utc("2026-11-19T00:00"), utc("2026-11-20T00:00"), tmp_path, spool
    )
    landed = duckdb.sql(f"select id from read_parquet('{result.path}')").fetchall()
    assert sorted(r[0] for r in landed) == sorted(acked)
