"""The collector: events accepted per second over HTTP on 127.0.0.1, and landing time.

- `collector.batch.events_per_s`: signed `/v1/batch` posts of 500 track calls from 4
  sender threads (keep-alive connections) to a `tailor collector serve` process; every
  event is acknowledged only after its commit is fsync'ed.
- `collector.webhook.requests_per_s`: one signed Shopify webhook per request from 8
  threads: what group commit gives when every request is a single record.
- `collector.land.seconds_per_100k`: landing the interval that holds every event, from the
  spool to its Parquet file, scaled to 100,000 events.
- `collector.shopify_bulk.records_per_s`: a full load of the store's orders through a bulk
  operation (start, poll, download, reassemble, land), beside `...paged.records_per_s`.

`TAILOR_BENCH_COLLECTOR_EVENTS` sets the scale (default 100,000 events).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
BATCH = 500
SENDERS = 4
WEBHOOK_SENDERS = 8
SECRET = "bench-collector-secret"
SHOPIFY_SECRET = "bench-shopify-secret"


def _call(n: int) -> dict:
    moment = AS_OF - timedelta(seconds=1 + n % 86_000)
    return {
        "type": "track",
        "event": ("Product Viewed", "Product Added", "Page Viewed")[n % 3],
        "userId": str(7_000_000 + n % 5000) if n % 4 else None,
        "anonymousId": f"anon-{n % 9000:05d}",
        "messageId": f"bench-{n:09d}",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "context": {"device": {"type": ("mobile", "desktop", "tablet")[n % 3]}},
        "properties": {"product_id": str(n % 400), "sku": f"SKU-{n % 400}", "price": 19.5},
    }


def _serve(spool: Path, log: Path) -> tuple[subprocess.Popen, str]:
    conn = {"host": "127.0.0.1", "schema": "http", "password": SECRET}
    conn["extra"] = {"shopify_webhook_secret": SHOPIFY_SECRET}
    env = {**os.environ, "AIRFLOW_CONN_TAILOR_COLLECTOR": json.dumps(conn)}
    command = [sys.executable, "-u", "-m", "tailor.cli", "collector", "serve", "--port", "0"]
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [*command, "--spool", str(spool)], env=env, stdout=subprocess.PIPE, stderr=err
        )
    assert proc.stdout is not None
    found = re.search(rb"listening on (\S+)", proc.stdout.readline())
    if not found:
        proc.kill()
        raise RuntimeError(f"the collector did not start; see {log}")
    return proc, found.group(1).decode()


def _in_threads(n: int, work: Callable[[int], None]) -> float:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _post_batches(url: str, events: int) -> float:
    from tailor.collector import signing

    bodies = []
    for start in range(0, events, BATCH):
        calls = [_call(n) for n in range(start, min(events, start + BATCH))]
        bodies.append(json.dumps({"batch": calls}, separators=(",", ":")).encode())

    def send(worker: int) -> None:
        with requests.Session() as session:
            for body in bodies[worker::SENDERS]:
                headers = {signing.TAILOR_HEADER: signing.sign(SECRET, body)}
                answer = session.post(f"{url}/v1/batch", data=body, headers=headers, timeout=60)
                answer.raise_for_status()

    return _in_threads(SENDERS, send)


def _post_webhooks(url: str, count: int) -> float:
    from tailor.collector import signing

    def send(worker: int) -> None:
        with requests.Session() as session:
            for n in range(worker, count, WEBHOOK_SENDERS):
                body = json.dumps({"id": n, "email": f"c{n}@example.com"}).encode()
                headers = {
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Webhook-Id": f"bench-wh-{n}",
                    signing.SHOPIFY_HEADER: signing.sign(SHOPIFY_SECRET, body),
                }
                answer = session.post(
                    f"{url}/webhooks/shopify", data=body, headers=headers, timeout=60
                )
                answer.raise_for_status()

    return _in_threads(WEBHOOK_SENDERS, send)


def _bulk_versus_paged(record: Callable[..., None], work: Path, customers: int) -> None:
    from tailor.connections import parse_connection
    from tailor.settings import HISTORY_START
    from tailor.sources import shopify

    from sandbox import local
    from sandbox.generate import generate

    store = work / "store"
    generate(store, customers=customers, seed=3, as_of=AS_OF)
    with local.sandbox_process(store) as url:
        spec = json.loads(local.connection_env(url)["AIRFLOW_CONN_SHOPIFY"])
        for mode, extra in (("paged", {"bulk_full_refresh": "false"}), ("bulk", {})):
            spec["extra"] = {"bulk_min_records": 0, "bulk_poll_initial": 0.1, **extra}
            conn = parse_connection("shopify", json.dumps(spec))
            started = time.perf_counter()
            result = shopify.extract(conn, "orders", HISTORY_START, AS_OF, work / mode)
            seconds = time.perf_counter() - started
            record(
                f"collector.shopify_bulk.{mode}.records_per_s",
                result.rows / seconds,
                "records/s",
                records=result.rows,
                customers=customers,
            )


def run(record: Callable[..., None]) -> None:
    from tailor.collector import land

    events = int(os.environ.get("TAILOR_BENCH_COLLECTOR_EVENTS", "100000"))
    with tempfile.TemporaryDirectory(prefix="bench_collector_") as tmp:
        work = Path(tmp)
        spool = work / "spool"
        proc, url = _serve(spool, work / "collector.log")
        try:
            seconds = _post_batches(url, events)
            record(
                "collector.batch.events_per_s",
                events / seconds,
                "events/s",
                events=events,
                batch=BATCH,
                senders=SENDERS,
            )
            webhooks = max(500, events // 20)
            seconds = _post_webhooks(url, webhooks)
            record(
                "collector.webhook.requests_per_s",
                webhooks / seconds,
                "requests/s",
                requests=webhooks,
                senders=WEBHOOK_SENDERS,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # warm: the first landing in a process pays for importing pyarrow's pandas glue
        land.extract("events", AS_OF - timedelta(minutes=10), AS_OF, work / "warm", spool)
        started = time.perf_counter()
        result = land.extract("events", AS_OF - timedelta(days=1), AS_OF, work / "landing", spool)
        seconds = time.perf_counter() - started
        assert result.rows == events, (result.rows, events)
        record(
            "collector.land.seconds_per_100k",
            seconds * 100_000 / events,
            "s",
            events=events,
        )
        _bulk_versus_paged(record, work, max(1000, events // 20))
