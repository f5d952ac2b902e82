"""Sync throughput and request economy against the Mailchimp stand-in over real HTTP.

The stand-in answers each request after `latency` seconds and refuses more than 10
simultaneous connections, as Mailchimp does, so the ceiling is 10 / latency requests per
second; the figure `sync.mailchimp.ceiling_fraction` is the share of it the first sync used.
Then an unchanged re-sync (target: 0 requests) and a re-sync with 1% of the members'
merge fields changed (target: at most 1% of the members plus one batch).

`TAILOR_BENCH_SYNC_MEMBERS` sets the scale (default 20,000; the issue's S1 is 1,000,000).
The Mailchimp stand-in runs in a process of its own (as Klaviyo's does), so that its JSON
work does not share the sync's interpreter lock. Tags go through static segments, 500
addresses a call, so a first sync needs about 2 requests per 500 members (batch subscribe,
then the tag's segment) and is no longer bound by the connections:
`sync.mailchimp.members_per_s` and `requests_per_1000_members` show what that gives.

Klaviyo (`run_klaviyo`, scale `TAILOR_BENCH_SYNC_KLAVIYO_MEMBERS`, default 20,000) runs
against its stand-in, in a process of its own, at Klaviyo's real per-endpoint rate limits:
a first sync (`first_sync_ceiling_fraction`: the busiest endpoint's share of what its
windows allowed), an unchanged re-sync (target 0 requests), a 1% re-sync, and 60
erasures, which are bound by their endpoint's limits (3/s, 60/min) and give
`sync.klaviyo.ceiling_fraction` (target 0.9, with no 429).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LATENCY = 0.02  # seconds per request, a fast real API round trip
ERASURES = 60  # a minute's worth of Klaviyo deletion jobs
COLUMNS = [
    "audience",
    "esp_tag",
    "customer_id",
    "email",
    "email_status",
    "first_name",
    "last_name",
    "merge_fields",
    "reason",
]


def _write_members(warehouse: Path, n: int, changed_every: int = 0) -> None:
    import duckdb
    import pandas as pd

    rows = []
    for i in range(n):
        orders = i % 7 + (1000 if changed_every and i % changed_every == 0 else 0)
        merge = {
            "FNAME": f"First{i}",
            "LNAME": f"Last{i}",
            "ORDERS": str(orders),
            "SPENT": f"{i * 3.5:.2f}",
        }
        rows.append(
            (
                "frequent_buyers",
                "Frequent buyers",
                f"c{i:07d}",
                f"customer{i:07d}@mail.tailor-shop.com",
                "subscribed",
                f"First{i}",
                f"Last{i}",
                json.dumps(merge),
                "bench",
            )
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    con = duckdb.connect(str(warehouse))
    try:
        con.register("frame", frame)
        con.execute("create or replace table main.audience_members as select * from frame")
    finally:
        con.close()


def run(record: Any) -> None:
    run_mailchimp(record)
    run_klaviyo(record)


def allowed_requests(burst: int, steady: int, seconds: float) -> int:
    """The most requests Klaviyo's two fixed windows let through in `seconds`."""
    return min(burst * math.ceil(seconds), steady * math.ceil(seconds / 60))


def _serve_klaviyo(conn: Any, latency: float) -> None:
    """The Klaviyo stand-in alone, in a child process: the sync and the stand-in each get a
    core instead of sharing one interpreter lock."""
    from sandbox.klaviyo import KlaviyoStandIn
    from sandbox.server import DEFAULT_KLAVIYO_KEY, Router, _Server

    standin = KlaviyoStandIn(DEFAULT_KLAVIYO_KEY, latency=latency)
    httpd = _Server(("127.0.0.1", 0), Router([standin]), None)
    conn.send(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.1)


@contextmanager
def klaviyo_process(latency: float) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_klaviyo, args=(child, latency), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Klaviyo stand-in process did not start")
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        proc.terminate()
        proc.join(10)


def run_klaviyo(record: Any) -> None:
    """Klaviyo: a first sync, an unchanged re-sync, a 1% re-sync and a run of erasures,
    against the stand-in at Klaviyo's real per-endpoint limits (see the module doc)."""
    import requests
    from tailor.destinations.klaviyo import TIERS, KlaviyoConfig, KlaviyoDestination
    from tailor.destinations.sync import sync_destination

    from sandbox.server import DEFAULT_KLAVIYO_KEY

    n = int(os.environ.get("TAILOR_BENCH_SYNC_KLAVIYO_MEMBERS", "20000"))
    with tempfile.TemporaryDirectory() as tmp, klaviyo_process(LATENCY) as url:
        warehouse = Path(tmp) / "warehouse.duckdb"

        def stats() -> dict[str, Any]:
            return requests.get(f"{url}/api/_sandbox/stats", timeout=30).json()

        def sync(run_id: str) -> tuple[float, dict[str, int], int]:
            before = stats()
            dest = KlaviyoDestination(KlaviyoConfig(api_key=DEFAULT_KLAVIYO_KEY, base_url=url))
            started = time.perf_counter()
            try:
                report = sync_destination(warehouse, dest, run_id=run_id, force=True)
            finally:
                dest.close()
            seconds = time.perf_counter() - started
            assert report.totals().failed == 0, report.summary()
            after = stats()
            sent = dict(Counter(after["requests"]) - Counter(before["requests"]))
            throttled = sum(after["throttled"].values()) - sum(before["throttled"].values())
            return seconds, sent, throttled

        _write_members(warehouse, n)
        seconds, sent, throttled = sync("first")
        # Each endpoint has its own windows; the busiest one's share of what its windows
        # allowed over the run. A first sync becomes bound by them (the profile look-ups,
        # 100 addresses a call, 750 calls a minute) only above about 75,000 members.
        shares = {}
        for endpoint, count in sent.items():
            method, path = endpoint.split(" ", 1)
            key = f"{method} /api" + path.replace("{job_id}", "{id}").replace("{list_id}", "{id}")
            if key in TIERS:
                shares[key] = (count / allowed_requests(*TIERS[key], seconds), count)
        busiest = max(shares, key=lambda k: shares[k][0])
        record("sync.klaviyo.members_per_s", n / seconds, "members/s", members=n)
        record(
            "sync.klaviyo.first_sync_ceiling_fraction",
            shares[busiest][0],
            "ratio",
            members=n,
            endpoint=busiest,
            requests=shares[busiest][1],
        )
        record("sync.klaviyo.first_sync_s", seconds, "s", members=n, requests=sum(sent.values()))
        record("sync.klaviyo.throttled", throttled, "429s", members=n, target=0)

        seconds, sent, _ = sync("unchanged")
        record("sync.klaviyo.unchanged_requests", sum(sent.values()), "requests", target=0)

        _write_members(warehouse, n, changed_every=100)
        seconds, sent, _ = sync("changed")
        record(
            "sync.klaviyo.changed_1pct_requests",
            sum(sent.values()),
            "requests",
            members=n,
            changed=len(range(0, n, 100)),
            by_endpoint=sent,
        )
        record("sync.klaviyo.changed_1pct_s", seconds, "s", members=n)

        # Rate-bound: erasures are one deletion job each, on an endpoint that allows 3 a
        # second and 60 a minute, so this run shows how close the pacing gets to a ceiling.
        import duckdb

        erasures = [f"customer{i:07d}@mail.tailor-shop.com" for i in range(ERASURES)]
        con = duckdb.connect(str(warehouse))
        try:
            con.execute(
                "create or replace table main.erasure_requests as "
                "select unnest(?::varchar[]) as email",
                [erasures],
            )
        finally:
            con.close()
        seconds, sent, throttled = sync("erasures")
        key = "POST /api/data-privacy-deletion-jobs"
        deletions = sent.get("POST /data-privacy-deletion-jobs", 0)
        record(
            "sync.klaviyo.ceiling_fraction",
            deletions / allowed_requests(*TIERS[key], seconds),
            "ratio",
            endpoint=key,
            requests=deletions,
            seconds=round(seconds, 2),
            throttled=throttled,
            target=0.9,
        )


def _serve_mailchimp(conn: Any, latency: float) -> None:
    """The Mailchimp stand-in alone, in a child process (see `_serve_klaviyo`)."""
    from sandbox.mailchimp import MailchimpStandIn
    from sandbox.server import DEFAULT_MAILCHIMP_KEY, Router, _Server

    standin = MailchimpStandIn(DEFAULT_MAILCHIMP_KEY, latency=latency)
    httpd = _Server(("127.0.0.1", 0), Router([standin]), None)
    conn.send(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.1)


@contextmanager
def mailchimp_process(latency: float) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_mailchimp, args=(child, latency), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while not parent.poll(0.5):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Mailchimp stand-in process did not start")
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        proc.terminate()
        proc.join(10)


def run_mailchimp(record: Any) -> None:
    """Mailchimp: a first sync, an unchanged re-sync and a 1% re-sync (see the module doc)."""
    import requests
    from tailor.destinations.mailchimp import MailchimpConfig, MailchimpDestination
    from tailor.destinations.sync import sync_destination

    from sandbox.mailchimp import LIST_ID, MAX_CONNECTIONS
    from sandbox.server import DEFAULT_MAILCHIMP_KEY

    n = int(os.environ.get("TAILOR_BENCH_SYNC_MEMBERS", "20000"))
    with tempfile.TemporaryDirectory() as tmp, mailchimp_process(LATENCY) as url:
        warehouse = Path(tmp) / "warehouse.duckdb"

        def stats() -> dict[str, Any]:
            return requests.get(f"{url}/3.0/_sandbox/stats", timeout=30).json()

        def sync(run_id: str) -> tuple[float, dict[str, int]]:
            before = Counter(stats()["requests"])
            dest = MailchimpDestination(
                MailchimpConfig(base_url=url, api_key=DEFAULT_MAILCHIMP_KEY, list_id=LIST_ID)
            )
            started = time.perf_counter()
            try:
                report = sync_destination(warehouse, dest, run_id=run_id)
            finally:
                dest.close()
            assert report.totals().failed == 0, report.summary()
            seconds = time.perf_counter() - started
            return seconds, dict(Counter(stats()["requests"]) - before)

        _write_members(warehouse, n)
        seconds, sent = sync("first")
        requests_sent = sum(sent.values())
        ceiling = MAX_CONNECTIONS / LATENCY
        record(
            "sync.mailchimp.members_per_s", n / seconds, "members/s", members=n, latency_s=LATENCY
        )
        record("sync.mailchimp.requests_per_s", requests_sent / seconds, "requests/s", members=n)
        # Requests per second against what 10 connections allow. Since tags go through
        # static segments (500 addresses a call) a first sync sends ~2 requests per 500
        # members, so this share is small: the sync is bound by the work per 500-member
        # call, not by the connections; members_per_s is the throughput figure.
        record(
            "sync.mailchimp.ceiling_fraction",
            requests_sent / seconds / ceiling,
            "ratio",
            members=n,
            ceiling_rps=ceiling,
            requests=requests_sent,
            peak_connections=stats()["peak_connections"],
            target=0.9,
        )
        record(
            "sync.mailchimp.first_sync_s",
            seconds,
            "s",
            members=n,
            requests=requests_sent,
            by_endpoint=sent,
        )
        record(
            "sync.mailchimp.requests_per_1000_members",
            requests_sent * 1000 / n,
            "requests",
            members=n,
        )

        seconds, sent = sync("unchanged")
        record("sync.unchanged_requests", sum(sent.values()), "requests", members=n, target=0)
        record("sync.unchanged_s", seconds, "s", members=n)

        _write_members(warehouse, n, changed_every=100)
        seconds, sent = sync("changed")
        record(
            "sync.changed_1pct_requests",
            sum(sent.values()),
            "requests",
            members=n,
            target=n // 100 + 1,
            changed=len(range(0, n, 100)),
            by_endpoint=sent,
        )
        record("sync.changed_1pct_s", seconds, "s", members=n)
